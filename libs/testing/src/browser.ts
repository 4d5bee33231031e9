import { CookieJar } from 'tough-cookie';

/** One HTTP exchange as a browser saw it. */
export interface Page {
  url: string;
  status: number;
  headers: Headers;
  body: string;
  /** The Location header resolved against the request URL, for 3xx answers. */
  location?: string | undefined;
}

export interface HtmlForm {
  action: string;
  method: string;
  fields: Record<string, string>;
}

const decodeEntities = (value: string): string =>
  value
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&#x27;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&#x2F;/g, '/')
    .replace(/&amp;/g, '&');

const attribute = (tag: string, name: string): string | undefined => {
  const match = new RegExp(`\\s${name}\\s*=\\s*"([^"]*)"`, 'i').exec(tag) ?? new RegExp(`\\s${name}\\s*=\\s*'([^']*)'`, 'i').exec(tag);
  return match?.[1] === undefined ? undefined : decodeEntities(match[1]);
};

/**
 * The first form of a page (or the one whose action contains `actionContains`), with its
 * hidden and pre-filled fields. Enough for the broker's and the dev IdP's plain pages.
 */
export function parseForm(html: string, baseUrl: string, actionContains?: string): HtmlForm {
  const forms = [...html.matchAll(/<form\b[^>]*>[\s\S]*?<\/form>/gi)].map((m) => m[0]);
  const form = forms.find((f) => actionContains === undefined || (attribute(f.slice(0, f.indexOf('>') + 1), 'action') ?? '').includes(actionContains));
  if (!form) throw new Error(`no form${actionContains ? ` with action containing ${actionContains}` : ''} in page:\n${html.slice(0, 500)}`);
  const open = form.slice(0, form.indexOf('>') + 1);
  const fields: Record<string, string> = {};
  for (const [input] of form.matchAll(/<input\b[^>]*>/gi)) {
    const name = attribute(input, 'name');
    if (name) fields[name] = attribute(input, 'value') ?? '';
  }
  return { action: new URL(attribute(open, 'action') ?? baseUrl, baseUrl).href, method: (attribute(open, 'method') ?? 'get').toUpperCase(), fields };
}

/**
 * A scripted browser: a cookie jar and fetch with manual redirects, so a test can see (and
 * assert) every hop of a login.
 */
export class TestBrowser {
  readonly jar = new CookieJar();

  async request(url: string, init: { method?: string; form?: Record<string, string>; headers?: Record<string, string> } = {}): Promise<Page> {
    const headers = new Headers(init.headers);
    const cookie = await this.jar.getCookieString(url);
    if (cookie) headers.set('cookie', cookie);
    let body: string | undefined;
    if (init.form) {
      headers.set('content-type', 'application/x-www-form-urlencoded');
      body = new URLSearchParams(init.form).toString();
    }
    const response = await fetch(url, { method: init.method ?? (init.form ? 'POST' : 'GET'), headers, body, redirect: 'manual' });
    for (const setCookie of response.headers.getSetCookie()) await this.jar.setCookie(setCookie, url, { ignoreError: true });
    const location = response.headers.get('location');
    return {
      url,
      status: response.status,
      headers: response.headers,
      body: await response.text(),
      location: location === null ? undefined : new URL(location, url).href,
    };
  }

  get(url: string): Promise<Page> {
    return this.request(url);
  }

  post(url: string, form: Record<string, string>): Promise<Page> {
    return this.request(url, { form });
  }

  /** Submit a page's form, with `values` filled in over its own fields. */
  submit(page: Page, values: Record<string, string> = {}, actionContains?: string): Promise<Page> {
    const form = parseForm(page.body, page.url, actionContains);
    const fields = { ...form.fields, ...values };
    if (form.method === 'POST') return this.post(form.action, fields);
    const target = new URL(form.action);
    for (const [k, v] of Object.entries(fields)) target.searchParams.set(k, v);
    return this.get(target.href);
  }

  /**
   * Follow redirects from `page` until a non-redirect answer, or until `stopWhen` says a
   * Location must not be fetched (for example an app's redirect URI, which has no server).
   */
  async follow(page: Page, stopWhen: (location: string) => boolean = () => false, maxHops = 15): Promise<Page> {
    let current = page;
    for (let hop = 0; hop < maxHops; hop++) {
      if (current.status < 300 || current.status >= 400 || !current.location) return current;
      if (stopWhen(current.location)) return current;
      current = await this.get(current.location);
    }
    throw new Error(`more than ${maxHops} redirects from ${page.url}`);
  }
}
