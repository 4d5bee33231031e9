import express, { type RequestHandler, type Router } from 'express';
import { OIDC_ROUTES, type Provider } from '@broker/oidc';

/** The oidc-provider routes the token service serves. */
const TOKEN_PATHS = new Set<string>([
  OIDC_ROUTES.token,
  OIDC_ROUTES.introspection,
  OIDC_ROUTES.revocation,
  OIDC_ROUTES.jwks,
  OIDC_ROUTES.userinfo,
  OIDC_ROUTES.pushed_authorization_request,
  '/.well-known/openid-configuration',
]);
export const isTokenServicePath = (path: string): boolean => TOKEN_PATHS.has(path);

/**
 * token-service: token, introspection, revocation, pushed authorization requests, JWKS, userinfo
 * and discovery, from the same
 * oidc-provider configuration as the portal. Every other path falls through (404 in split mode).
 */
/** Endpoints SPAs call from the browser (oidc-provider's clientBasedCORS decides per client). */
const CORS_PATHS = new Set<string>([OIDC_ROUTES.token, OIDC_ROUTES.userinfo, OIDC_ROUTES.revocation]);

export function createTokenServiceRouter(deps: { provider: Provider; isCorsOrigin: (origin: string) => Promise<boolean> }): Router {
  const router = express.Router();
  const callback = deps.provider.callback() as RequestHandler;
  // oidc-provider answers every CORS preflight before it knows the client; answer preflights from
  // origins no SPA registered ourselves, without CORS headers, so the browser stops there.
  router.options([...CORS_PATHS], async (req, res, next) => {
    const origin = req.get('origin');
    if (origin && !(await deps.isCorsOrigin(origin))) {
      res.status(204).end();
      return;
    }
    next();
  });
  router.use((req, res, next) => {
    if (isTokenServicePath(req.path)) {
      callback(req, res, next);
      return;
    }
    next();
  });
  return router;
}
