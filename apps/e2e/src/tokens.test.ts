// Tokens after the sign-in, in split mode on Redis with openid-client as the app: introspection
// and revocation, DPoP-bound access tokens, and pushed authorization requests (PAR).
import * as oidc from 'openid-client';
import { describe, expect, it } from 'vitest';
import {
  ALICE,
  authorizationRequest,
  challengeError,
  discover,
  ES256_CLIENT,
  loopbackRedirectUri,
  rejection,
  sendOrigin,
  signIn,
  skipWithoutRedis,
  SPA_CLIENT,
  SPA_ORIGIN,
  useSplitCluster,
  type AuthorizationRequest,
} from './support.ts';

/** An API taking opaque access tokens (2-minute ones), which demo-backend (its credentials) may introspect. */
const API = 'https://api.e2e.test';
const API_TOKEN_TTL = 120;

describe.skipIf(skipWithoutRedis())('split mode: introspection, revocation, DPoP and PAR', () => {
  const handle = useSplitCluster({
    clients: [SPA_CLIENT],
    resourceServers: [{ identifier: API, scopes: ['api:read'], accessTokenFormat: 'opaque', accessTokenTtl: API_TOKEN_TTL, introspectionClients: ['demo-backend'] }],
  });

  /** Sign alice in to `config`'s client and redeem the code. */
  const tokensFor = async (config: oidc.Configuration, redirectUri: string, options: oidc.DPoPOptions = {}, extra: Record<string, string> = {}) => {
    const request = await authorizationRequest(config, redirectUri, { tenant: 'acme', ...extra });
    const { callback } = await signIn(handle.cluster(), request, ALICE, { expectEmailPage: false });
    const tokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: request.verifier, expectedState: request.state, expectedNonce: request.nonce }, undefined, options);
    return { tokens, sub: tokens.claims()?.sub ?? '' };
  };
  const backend = () => discover(handle.cluster(), 'demo-backend', oidc.ClientSecretBasic(handle.cluster().demoBackendSecret), ES256_CLIENT);
  const spaClient = async () => {
    const spa = await discover(handle.cluster(), SPA_CLIENT.clientId, oidc.None(), ES256_CLIENT);
    sendOrigin(spa, SPA_ORIGIN);
    return spa;
  };

  it('the API\'s designated client introspects a token issued for the API; after its owner revoked it, it is inactive', async () => {
    const cluster = handle.cluster();
    const spa = await spaClient();
    const { tokens, sub } = await tokensFor(spa, `${SPA_ORIGIN}/callback`, {}, { scope: 'openid email api:read', resource: API });
    const introspector = await backend();

    const before = await oidc.tokenIntrospection(introspector, tokens.access_token);
    expect(before).toMatchObject({ active: true, client_id: SPA_CLIENT.clientId, sub, iss: cluster.issuer, aud: API, token_type: 'Bearer' });
    // The API's accessTokenTtl, not the broker's ttl.accessToken.
    expect(tokens.expires_in).toBe(API_TOKEN_TTL);
    expect(Number(before.exp) - Number(before.iat)).toBe(API_TOKEN_TTL);
    expect(before.scope?.split(' ')).toContain('api:read');

    // The owner revokes its own token (an SPA may call /token/revocation from its origin).
    await oidc.tokenRevocation(spa, tokens.access_token, { token_type_hint: 'access_token' });
    expect(await oidc.tokenIntrospection(introspector, tokens.access_token)).toEqual({ active: false });
  });

  it('a confidential client learns nothing about another client\'s token that is not for an API it introspects for, and cannot revoke it', async () => {
    const spa = await spaClient();
    const { tokens, sub } = await tokensFor(spa, `${SPA_ORIGIN}/callback`);
    // No resource: the broker's ttl.accessToken (600 s).
    expect(tokens.expires_in).toBe(600);
    const other = await backend();
    // A live token (userinfo takes it), yet demo-backend is neither its client nor an introspector of its audience.
    expect((await oidc.fetchUserInfo(spa, tokens.access_token, sub)).sub).toBe(sub);
    expect(await oidc.tokenIntrospection(other, tokens.access_token)).toEqual({ active: false });

    // Revoking it would end the SPA's whole grant (RFC 7009: only the client it was issued to may).
    const refused = await rejection(oidc.tokenRevocation(other, tokens.access_token));
    expect(refused).toBeInstanceOf(oidc.ResponseBodyError);
    expect((refused as oidc.ResponseBodyError).error).toBe('invalid_request');
    expect((await oidc.fetchUserInfo(spa, tokens.access_token, sub)).sub).toBe(sub);
  });

  it('a backend introspects and revokes its own token', async () => {
    const own = await backend();
    const { tokens } = await tokensFor(own, 'http://localhost:8080/callback');
    expect((await oidc.tokenIntrospection(own, tokens.access_token)).active).toBe(true);
    await oidc.tokenRevocation(own, tokens.access_token);
    expect((await oidc.tokenIntrospection(own, tokens.access_token)).active).toBe(false);
  });

  it('introspection is refused to a public client, even for its own live token', async () => {
    const cluster = handle.cluster();
    const native = await discover(cluster, 'demo-native', oidc.None(), ES256_CLIENT);
    const { tokens } = await tokensFor(native, loopbackRedirectUri());
    // Live: userinfo takes it.
    expect((await oidc.fetchUserInfo(native, tokens.access_token, tokens.claims()?.sub ?? '')).email).toBe(ALICE.email);

    const response = await fetch(`${cluster.issuer}/token/introspection`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({ client_id: 'demo-native', token: tokens.access_token }).toString(),
    });
    const body = (await response.json()) as Record<string, unknown>;
    expect({ status: response.status, body }).toEqual({ status: 200, body: { active: false } });
  });

  it('a DPoP-bound access token is refused at userinfo as a plain Bearer token, and accepted with its proof', async () => {
    const cluster = handle.cluster();
    const config = await discover(cluster, 'demo-native', oidc.None(), ES256_CLIENT);
    const DPoP = oidc.getDPoPHandle(config, await oidc.randomDPoPKeyPair('ES256'));
    const { tokens, sub } = await tokensFor(config, loopbackRedirectUri(), { DPoP });
    expect(tokens.token_type.toLowerCase()).toBe('dpop');

    // Without the proof: as a Bearer token (401 invalid_token), and under the DPoP scheme with no
    // DPoP header (400 invalid_request, RFC 9449 section 7.1).
    expect(challengeError(await rejection(oidc.fetchUserInfo(config, tokens.access_token, sub)))).toBe('invalid_token');
    const asBearer = await fetch(`${cluster.issuer}/userinfo`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    await asBearer.body?.cancel();
    expect(asBearer.status).toBe(401);
    expect(asBearer.headers.get('www-authenticate')).toContain('invalid_token');
    const noProof = await fetch(`${cluster.issuer}/userinfo`, { headers: { authorization: `DPoP ${tokens.access_token}` } });
    await noProof.body?.cancel();
    expect(noProof.status).toBe(400);
    expect(noProof.headers.get('www-authenticate')).toContain('invalid_request');
    // With a proof from another key.
    const otherKey = oidc.getDPoPHandle(config, await oidc.randomDPoPKeyPair('ES256'));
    expect(challengeError(await rejection(oidc.fetchUserInfo(config, tokens.access_token, sub, { DPoP: otherKey })))).toBe('invalid_token');

    // With its own proof.
    const userinfo = await oidc.fetchUserInfo(config, tokens.access_token, sub, { DPoP });
    expect(userinfo).toMatchObject({ sub, email: ALICE.email });
  });

  it('PAR: a pushed authorization request completes a login; the authorization URL carries only client_id and request_uri', async () => {
    const cluster = handle.cluster();
    const config = await discover(cluster, 'demo-native', oidc.None(), ES256_CLIENT);
    const redirectUri = loopbackRedirectUri();
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const url = await oidc.buildAuthorizationUrlWithPAR(config, {
      redirect_uri: redirectUri,
      scope: 'openid email',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
      tenant: 'acme',
    });
    expect(url.origin).toBe(cluster.issuer);
    expect([...url.searchParams.keys()].sort()).toEqual(['client_id', 'request_uri']);
    expect(url.searchParams.get('request_uri')).toMatch(/^urn:ietf:params:oauth:request_uri:/);

    const request: AuthorizationRequest = { url, redirectUri, verifier, state, nonce };
    const { callback } = await signIn(cluster, request, ALICE, { expectEmailPage: false });
    const tokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true });
    expect(tokens.claims()).toMatchObject({ aud: 'demo-native', email: ALICE.email, nonce });

    // A request_uri is good for one authorization request: used again, it gives an error (at the
    // client's one registered redirect URI), never a code.
    const again = await fetch(url, { redirect: 'manual' });
    await again.body?.cancel();
    const errorAt = new URL(again.headers.get('location') ?? '', cluster.issuer);
    expect(`${errorAt.origin}${errorAt.pathname}`).toBe('http://127.0.0.1/callback');
    expect(errorAt.searchParams.get('error')).toBe('invalid_request_uri');
    expect(errorAt.searchParams.has('code')).toBe(false);

    // The pushed request is checked when pushed: an unregistered redirect URI is refused at /par.
    const refused = await rejection(
      oidc.buildAuthorizationUrlWithPAR(config, {
        redirect_uri: 'https://attacker.example/callback',
        scope: 'openid',
        code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
      }),
    );
    expect(refused).toBeInstanceOf(oidc.ResponseBodyError);
    expect(refused).toMatchObject({ status: 400, error: 'invalid_request' });
    expect((refused as oidc.ResponseBodyError).error_description).toMatch(/redirect_uri did not match/);
  });
});
