export { createAuthnRouter } from './authn-service.ts';
export type { AuthnServiceDeps } from './authn-service.ts';
export { mapAssertion } from './identity-mapping.ts';
