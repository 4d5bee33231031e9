export { createDevIdp } from './dev-idp.ts';
export type { DevIdpDeps } from './dev-idp.ts';
export { loadDevIdpConfig, DevIdpConfigError } from './config.ts';
export type { DevIdpConfig, DevIdpFileConfig, DevIdpServiceProvider, DevIdpUser } from './config.ts';
export { startDevIdp } from './start.ts';
export type { RunningDevIdp, StartDevIdpOptions } from './start.ts';
export type { DevIdpAttributeProfile } from './config.ts';
export { AZURE_CLAIMS, persistentId } from './saml.ts';
