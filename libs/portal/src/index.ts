export { createAuthPortalRouter, isPortalOidcPath } from './auth-portal.ts';
export type { AuthPortalDeps } from './auth-portal.ts';
