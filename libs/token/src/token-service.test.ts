import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import express, { type RequestHandler } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Provider } from '@broker/oidc';
import { createTokenServiceRouter, isTokenServicePath } from './token-service.ts';

// A stand-in for oidc-provider's callback that says which path reached it; the provider itself is
// exercised end to end in apps/e2e.
const reached: string[] = [];
const provider = {
  callback: (): RequestHandler => (req, res) => {
    reached.push(`${req.method} ${req.path}`);
    res.setHeader('Access-Control-Allow-Origin', req.get('origin') ?? '*');
    res.status(200).send('oidc');
  },
} as unknown as Provider;

const app = express()
  .use(createTokenServiceRouter({ provider, isCorsOrigin: (origin) => Promise.resolve(origin === 'https://spa.example.com') }))
  .use((_req, res) => void res.status(404).send('not found'));
let base = '';
const server = app.listen(0, '127.0.0.1');
beforeAll(async () => {
  if (!server.listening) await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('token-service routes', () => {
  it('serves the token endpoints, PAR, JWKS, userinfo and discovery, and nothing else', async () => {
    for (const path of ['/token', '/token/introspection', '/token/revocation', '/par', '/jwks', '/userinfo', '/.well-known/openid-configuration']) {
      expect(isTokenServicePath(path), path).toBe(true);
      expect((await fetch(`${base}${path}`)).status, path).toBe(200);
    }
    for (const path of ['/authorize', '/interaction/x', '/saml/acme/acs', '/logout', '/tokens']) {
      expect(isTokenServicePath(path), path).toBe(false);
      expect((await fetch(`${base}${path}`)).status, path).toBe(404);
    }
  });

  it('answers a CORS preflight from an origin no SPA registered itself, without CORS headers', async () => {
    reached.length = 0;
    const foreign = await fetch(`${base}/token`, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
    expect(foreign.status).toBe(204);
    expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
    expect(reached).toEqual([]);
    const registered = await fetch(`${base}/token`, { method: 'OPTIONS', headers: { origin: 'https://spa.example.com', 'access-control-request-method': 'POST' } });
    expect(registered.headers.get('access-control-allow-origin')).toBe('https://spa.example.com');
    expect(reached).toEqual(['OPTIONS /token']);
  });
});
