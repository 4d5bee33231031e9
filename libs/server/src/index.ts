export { buildBrokerDeps, createBrokerApp } from './broker.ts';
export type { BrokerDeps, BrokerPart } from './broker.ts';
export { resolveSecrets } from './secrets.ts';
export type { BrokerSecrets, RunMode } from './secrets.ts';
export { listen, shutdownOnSignals, portFrom, runMain } from './serve.ts';
export type { Running } from './serve.ts';
export { startBrokerRuntime } from './runtime.ts';
export type { StartOptions } from './runtime.ts';
export { clientRecordFromConfig, importClients } from './clients.ts';
