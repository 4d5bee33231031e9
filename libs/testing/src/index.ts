export { TestBrowser, parseForm } from './browser.ts';
export type { Page, HtmlForm } from './browser.ts';
