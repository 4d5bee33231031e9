export { createProvider, interactionPath, OIDC_ROUTES } from './provider.ts';
export { clientMetadata } from './client-metadata.ts';
export type { AccountClaims, ProviderDeps, ResourceServer } from './provider.ts';
export { createStoreAdapter, endSessionsOf } from './adapter.ts';
export { createPrefetchingStore } from './request-reads.ts';
export type { PrefetchingStore } from './request-reads.ts';
export { generateSigningJwks, parseSigningJwks } from './signing-keys.ts';
export type { SigningJwks } from './signing-keys.ts';
export type { default as Provider } from 'oidc-provider';
