export { createSamlServiceProvider } from './service-provider.ts';
export type { SamlServiceProvider, ServiceProviderDeps, ValidatedAssertion } from './service-provider.ts';
export { SamlRejection, toSamlRejection } from './rejection.ts';
export { spUrls, resolveIdpSettings } from './connection-settings.ts';
export type { IdpSettings } from './connection-settings.ts';
export { parseIdpMetadata, toPem } from './idp-metadata.ts';
export type { IdpMetadata } from './idp-metadata.ts';
