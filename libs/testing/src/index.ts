export { TestBrowser, parseForm } from './browser.ts';
export type { Page, HtmlForm } from './browser.ts';
export { startSplitCluster, SPLIT_PROCESS_NAMES, workspaceRoot } from './split-cluster.ts';
export type { SplitCluster, SplitClusterClient, SplitClusterOptions, SplitClusterPorts, SplitProcessName } from './split-cluster.ts';
