/**
 * Path routing of the broker's public origin: which process serves which path. The same table
 * is written out for nginx in deploy/nginx/broker.conf; keep the two in step.
 */
export type Upstream = 'portal' | 'authn' | 'token';

const TOKEN_PATHS = new Set(['/token', '/token/introspection', '/token/revocation', '/par', '/jwks', '/userinfo', '/.well-known/openid-configuration']);

export function upstreamFor(path: string): Upstream {
  if (TOKEN_PATHS.has(path)) return 'token';
  if (path === '/saml' || path.startsWith('/saml/')) return 'authn';
  return 'portal';
}
