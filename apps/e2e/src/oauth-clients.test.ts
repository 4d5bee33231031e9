// One sign-in per kind of client, in split mode on Redis, with openid-client as the app: a native
// app on a loopback redirect, a browser app (CORS, rotating refresh tokens), and a backend
// authenticating with client_secret_basic or private_key_jwt.
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import * as oidc from 'openid-client';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ALICE,
  authorizationRequest,
  challengeError,
  discover,
  ES256_CLIENT,
  postToken,
  redirectUriOf,
  rejection,
  sendOrigin,
  signIn,
  skipWithoutRedis,
  SPA_CLIENT,
  SPA_ORIGIN,
  useSplitCluster,
} from './support.ts';

/** The private_key_jwt backend's key pair: the public half is registered on the client. */
const backendKeys = await generateKeyPair('ES256', { extractable: true });
const backendJwk = { ...(await exportJWK(backendKeys.publicKey)), kid: 'e2e-backend-jwt-1', alg: 'ES256', use: 'sig' };
const JWT_BACKEND_REDIRECT = 'http://localhost:8081/callback';

describe.skipIf(skipWithoutRedis())('split mode: one sign-in per kind of client', () => {
  const handle = useSplitCluster({
    clients: [
      SPA_CLIENT,
      {
        clientId: 'e2e-backend-jwt',
        displayName: 'E2E backend (private_key_jwt)',
        kind: 'backend',
        tokenEndpointAuthMethod: 'private_key_jwt',
        jwks: { keys: [backendJwk] },
        redirectUris: [JWT_BACKEND_REDIRECT],
        allowedTenants: ['acme'],
      },
    ],
  });

  const servers: Server[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
  });

  it('native: the code comes back to a loopback listener on a port of its own, registered without a port', async () => {
    const cluster = handle.cluster();
    // The app listens on a free port of 127.0.0.1 (RFC 8252 section 7.3), as a desktop app does.
    const received: URL[] = [];
    const app = createServer((req, res) => {
      received.push(new URL(req.url ?? '/', 'http://127.0.0.1'));
      res.end('You can close this window.');
    });
    servers.push(app);
    app.listen(0, '127.0.0.1');
    await once(app, 'listening');
    const port = (app.address() as AddressInfo).port;
    const redirectUri = `http://127.0.0.1:${port}/callback`;

    const config = await discover(cluster, 'demo-native', oidc.None(), ES256_CLIENT);
    const request = await authorizationRequest(config, redirectUri, { tenant: 'acme' });
    const { callback } = await signIn(cluster, request, ALICE, { expectEmailPage: false });
    expect(callback.port).toBe(String(port));

    // The browser's last hop reaches the app's listener with code, state and iss.
    const delivered = await fetch(callback);
    expect(delivered.status).toBe(200);
    await delivered.body?.cancel();
    expect(received).toHaveLength(1);
    const atApp = new URL(`${redirectUri}${received[0]?.search ?? ''}`);
    expect(atApp.searchParams.get('code')).toBe(callback.searchParams.get('code'));

    // The code is bound to the port it was sent to: another port is refused (the code survives).
    const form = { grant_type: 'authorization_code', client_id: 'demo-native', code: atApp.searchParams.get('code') ?? '', code_verifier: request.verifier };
    const otherPort = await postToken(cluster, { ...form, redirect_uri: `http://127.0.0.1:${port === 65_535 ? port - 1 : port + 1}/callback` });
    expect(otherPort.status).toBe(400);
    expect(otherPort.body['error']).toBe('invalid_grant');

    const tokens = await oidc.authorizationCodeGrant(config, atApp, { pkceCodeVerifier: request.verifier, expectedState: request.state, expectedNonce: request.nonce, idTokenExpected: true });
    const claims = tokens.claims();
    expect(claims).toMatchObject({ aud: 'demo-native', email: ALICE.email, tenant: 'acme' });
    // A public client without offline_access gets no refresh token.
    expect(tokens.refresh_token).toBeUndefined();
    expect((await oidc.fetchUserInfo(config, tokens.access_token, claims?.sub ?? '')).email).toBe(ALICE.email);
  });

  /** A CORS preflight for a token request from a browser at `origin`. */
  const preflight = (origin: string) =>
    fetch(`${handle.cluster().issuer}/token`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type, dpop' },
    });

  // oidc-provider answers every preflight before any client is known; the token service answers
  // preflights from origins no SPA registered itself, without CORS headers.
  it('spa: a CORS preflight from an unregistered origin gets no Access-Control-Allow-Origin', async () => {
    const foreign = await preflight('https://evil.example');
    await foreign.body?.cancel();
    expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('spa: CORS for its registered origin only; the refresh token rotates, and reusing an old one revokes the grant', async () => {
    const cluster = handle.cluster();
    const allowed = await preflight(SPA_ORIGIN);
    await allowed.body?.cancel();
    expect(allowed.status).toBe(204);
    expect(allowed.headers.get('access-control-allow-origin')).toBe(SPA_ORIGIN);
    expect(allowed.headers.get('access-control-allow-methods')).toContain('POST');

    const config = await discover(cluster, SPA_CLIENT.clientId, oidc.None(), ES256_CLIENT);
    const request = await authorizationRequest(config, `${SPA_ORIGIN}/callback`, { tenant: 'acme', scope: 'openid email offline_access', prompt: 'consent' });
    const { callback } = await signIn(cluster, request, ALICE, { expectEmailPage: false, expectConsentStep: true });

    // The same code from another origin: refused, and nothing a browser there could read.
    const code = callback.searchParams.get('code') ?? '';
    const form = { grant_type: 'authorization_code', client_id: SPA_CLIENT.clientId, code, redirect_uri: redirectUriOf(callback), code_verifier: request.verifier };
    const fromElsewhere = await fetch(`${cluster.issuer}/token`, {
      method: 'POST',
      headers: { origin: 'https://evil.example', 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form).toString(),
    });
    expect(fromElsewhere.status).toBe(400);
    expect(fromElsewhere.headers.get('access-control-allow-origin')).toBeNull();
    expect(await fromElsewhere.json()).toMatchObject({ error: 'invalid_request', error_description: expect.stringContaining('origin https://evil.example not allowed') as unknown });

    // From its own origin (openid-client sends Origin: SPA_ORIGIN), with the CORS header a browser needs.
    let allowOrigin: string | null = null;
    sendOrigin(config, SPA_ORIGIN, (url, response) => {
      if (url.pathname === '/token') allowOrigin = response.headers.get('access-control-allow-origin');
    });
    const first = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: request.verifier, expectedState: request.state, expectedNonce: request.nonce });
    expect(allowOrigin).toBe(SPA_ORIGIN);
    const sub = first.claims()?.sub ?? '';
    expect(sub).not.toBe('');
    expect(first.scope?.split(' ')).toContain('offline_access');
    const r1 = first.refresh_token ?? '';
    expect(r1).not.toBe('');

    const second = await oidc.refreshTokenGrant(config, r1);
    const r2 = second.refresh_token ?? '';
    expect(r2).not.toBe('');
    expect(r2).not.toBe(r1);
    expect(second.access_token).not.toBe(first.access_token);
    expect((await oidc.fetchUserInfo(config, second.access_token, sub)).sub).toBe(sub);

    // The rotated-out token again: invalid_grant, and the whole grant goes.
    const reuse = await rejection(oidc.refreshTokenGrant(config, r1));
    expect(reuse).toBeInstanceOf(oidc.ResponseBodyError);
    expect(reuse).toMatchObject({ status: 400, error: 'invalid_grant' });
    const newest = await rejection(oidc.refreshTokenGrant(config, r2));
    expect(newest).toMatchObject({ status: 400, error: 'invalid_grant' });
    expect(challengeError(await rejection(oidc.fetchUserInfo(config, second.access_token, sub)))).toBe('invalid_token');
    expect(challengeError(await rejection(oidc.fetchUserInfo(config, first.access_token, sub)))).toBe('invalid_token');
  });

  it('backend, client_secret_basic: a wrong secret, by either secret method, is refused without spending the code', async () => {
    const cluster = handle.cluster();
    const config = await discover(cluster, 'demo-backend', oidc.ClientSecretBasic(cluster.demoBackendSecret), ES256_CLIENT);
    const request = await authorizationRequest(config, 'http://localhost:8080/callback', { tenant: 'acme' });
    const { callback } = await signIn(cluster, request, ALICE, { expectEmailPage: false });
    const form = { grant_type: 'authorization_code', code: callback.searchParams.get('code') ?? '', redirect_uri: redirectUriOf(callback), code_verifier: request.verifier };

    // (oidc-provider takes the secret in the body too, client_secret_post, for a
    // client_secret_basic client: the same secret either way.)
    const basic = `Basic ${Buffer.from('demo-backend:not-the-secret').toString('base64')}`;
    for (const wrong of [
      await postToken(cluster, form, { authorization: basic }),
      await postToken(cluster, { ...form, client_id: 'demo-backend', client_secret: 'not-the-secret' }),
      await postToken(cluster, { ...form, client_id: 'demo-backend' }),
    ]) {
      expect(wrong.status).toBe(401);
      expect(wrong.body['error']).toBe('invalid_client');
    }

    const tokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: request.verifier, expectedState: request.state, expectedNonce: request.nonce, idTokenExpected: true });
    const claims = tokens.claims();
    expect(claims).toMatchObject({ aud: 'demo-backend', email: ALICE.email });
    expect((await oidc.fetchUserInfo(config, tokens.access_token, claims?.sub ?? '')).email).toBe(ALICE.email);
    expect(cluster.logs('token-service')).not.toContain(cluster.demoBackendSecret);
  });

  it('backend, private_key_jwt: an assertion signed with its registered key redeems the code; another key is refused', async () => {
    const cluster = handle.cluster();
    const config = await discover(cluster, 'e2e-backend-jwt', oidc.PrivateKeyJwt(backendKeys.privateKey), ES256_CLIENT);
    const request = await authorizationRequest(config, JWT_BACKEND_REDIRECT, { tenant: 'acme' });
    const { callback } = await signIn(cluster, request, ALICE, { expectEmailPage: false });
    const form = { grant_type: 'authorization_code', code: callback.searchParams.get('code') ?? '', redirect_uri: redirectUriOf(callback), code_verifier: request.verifier };

    // A well-formed assertion from a key the client never registered.
    const stranger = await generateKeyPair('ES256');
    const forged = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: backendJwk.kid })
      .setIssuer('e2e-backend-jwt')
      .setSubject('e2e-backend-jwt')
      .setAudience(cluster.issuer)
      .setJti(oidc.randomState())
      .setIssuedAt()
      .setExpirationTime('1m')
      .sign(stranger.privateKey);
    const refused = await postToken(cluster, { ...form, client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: forged });
    expect(refused.status).toBe(401);
    expect(refused.body['error']).toBe('invalid_client');
    // No assertion at all.
    const none = await postToken(cluster, { ...form, client_id: 'e2e-backend-jwt' });
    expect(none.status).toBe(401);
    expect(none.body['error']).toBe('invalid_client');

    const tokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: request.verifier, expectedState: request.state, expectedNonce: request.nonce, idTokenExpected: true });
    const claims = tokens.claims();
    expect(claims).toMatchObject({ aud: 'e2e-backend-jwt', email: ALICE.email, tenant: 'acme' });
    expect((await oidc.fetchUserInfo(config, tokens.access_token, claims?.sub ?? '')).email).toBe(ALICE.email);
    expect(cluster.logs('token-service')).not.toContain(forged);
  });
});
