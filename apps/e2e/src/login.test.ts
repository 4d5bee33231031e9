// End to end, split mode: five processes (auth-portal, authn-service, token-service, dev IdP,
// dev proxy) on a real Redis; openid-client is the app, a TestBrowser is the person.
import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import { describe, expect, it } from 'vitest';
import { SPLIT_PROCESS_NAMES } from '@broker/testing';
import {
  ALICE,
  authorizationRequest,
  BOB,
  discover,
  loopbackRedirectUri,
  postToken,
  redirectUriOf,
  signIn,
  skipWithoutRedis,
  useSplitCluster,
  type Person,
} from './support.ts';

describe.skipIf(skipWithoutRedis())('split mode: login end to end', () => {
  const handle = useSplitCluster();

  /** The ID token's signature, checked against the issuer's published JWKS (token-service). */
  const verifyIdToken = async (idToken: string, clientId: string) => {
    const { issuer } = handle.cluster();
    const jwks = createRemoteJWKSet(new URL(`${issuer}/jwks`));
    return (await jwtVerify(idToken, jwks, { issuer, audience: clientId })).payload;
  };

  const expectPersonClaims = (claims: Record<string, unknown>, person: Person, names: { given: string; family: string }) => {
    expect(claims).toMatchObject({
      email: person.email,
      given_name: names.given,
      family_name: names.family,
      tenant: 'acme',
      role: 'member',
    });
    expect(typeof claims['sub']).toBe('string');
    expect(claims['sub']).not.toBe('');
  };

  it('public client: discovery page (alice@acme.test), SAML at the dev IdP, code exchange, ID token and userinfo', async () => {
    const cluster = handle.cluster();
    const config = await discover(cluster, 'demo-native');
    const server = config.serverMetadata();
    expect(server.issuer).toBe(cluster.issuer);
    expect(server.authorization_endpoint).toBe(`${cluster.issuer}/authorize`);
    expect(server.token_endpoint).toBe(`${cluster.issuer}/token`);

    const request = await authorizationRequest(config, loopbackRedirectUri());
    expect(request.url.searchParams.has('tenant')).toBe(false);
    const { callback, hops } = await signIn(cluster, request, ALICE, { expectEmailPage: true });
    // Nothing but the broker's origin and the dev IdP was visited (the redirect URI never was).
    for (const hop of hops) expect([cluster.issuer, cluster.idpUrl]).toContain(new URL(hop.url).origin);

    // openid-client checks state, iss (RFC 9207), and the ID token's signature, iss, aud, exp and nonce.
    const tokens = await oidc.authorizationCodeGrant(config, callback, {
      pkceCodeVerifier: request.verifier,
      expectedState: request.state,
      expectedNonce: request.nonce,
      idTokenExpected: true,
    });
    expect(tokens.token_type.toLowerCase()).toBe('bearer');
    expect(tokens.access_token).toBeTruthy();
    const claims = tokens.claims();
    expect(claims).toBeDefined();
    if (!claims) return;
    expect(claims.iss).toBe(cluster.issuer);
    expect(claims.aud).toBe('demo-native');
    expect(claims.nonce).toBe(request.nonce);
    expectPersonClaims(claims, ALICE, { given: 'Alice', family: 'Anderson' });

    // The signature once more, independently, against the JWKS the token service publishes.
    const verified = await verifyIdToken(tokens.id_token ?? '', 'demo-native');
    expect(verified.sub).toBe(claims.sub);

    const userinfo = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
    expect(userinfo.sub).toBe(claims.sub);
    expect(userinfo.email).toBe(ALICE.email);

    // Each step ran in its own process, all sharing this run's Redis key prefix.
    expect(cluster.logs('auth-portal')).toContain('login handed to authn-service');
    expect(cluster.logs('authn-service')).toContain('sending AuthnRequest');
    expect(cluster.logs('authn-service')).toContain('SAML login accepted');
    expect(cluster.logs('dev-idp')).toContain('AuthnRequest accepted');
    expect(cluster.logs('dev-idp')).toContain('login succeeded');
    const accepted = cluster.logEntries('authn-service').find((entry) => entry['msg'] === 'SAML login accepted');
    expect(accepted).toMatchObject({ tenantId: 'acme', connectionId: 'acme-dev-idp', userId: claims.sub });
    expect(await handle.redisKeys(`user:${claims.sub}`)).toEqual([`user:${claims.sub}`]);

    // No process logged a credential or a token.
    for (const name of SPLIT_PROCESS_NAMES) {
      const logs = cluster.logs(name);
      expect(logs).not.toContain(ALICE.password);
      expect(logs).not.toContain(tokens.access_token);
      expect(logs).not.toContain(request.verifier);
    }
  });

  it('login_hint=bob@acme.test skips the discovery page', async () => {
    const cluster = handle.cluster();
    const config = await discover(cluster, 'demo-native');
    const request = await authorizationRequest(config, loopbackRedirectUri(), { login_hint: BOB.email });
    const { callback } = await signIn(cluster, request, BOB, { expectEmailPage: false });
    const tokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: request.verifier, expectedState: request.state, expectedNonce: request.nonce });
    const claims = tokens.claims();
    expect(claims).toBeDefined();
    if (!claims) return;
    expectPersonClaims(claims, BOB, { given: 'Bob', family: 'Brown' });
    const userinfo = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
    expect(userinfo).toMatchObject({ sub: claims.sub, email: BOB.email });
  });

  it('tenant=acme skips the discovery page, and the same person keeps the same sub', async () => {
    const cluster = handle.cluster();
    const config = await discover(cluster, 'demo-native');
    const subs: string[] = [];
    for (let i = 0; i < 2; i++) {
      const request = await authorizationRequest(config, loopbackRedirectUri(), { tenant: 'acme' });
      const { callback } = await signIn(cluster, request, ALICE, { expectEmailPage: false });
      const tokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: request.verifier, expectedState: request.state, expectedNonce: request.nonce });
      const claims = tokens.claims();
      expect(claims).toBeDefined();
      if (!claims) return;
      expectPersonClaims(claims, ALICE, { given: 'Alice', family: 'Anderson' });
      subs.push(claims.sub);
    }
    expect(subs[1]).toBe(subs[0]);
  });

  it('confidential client (client_secret_basic): a wrong secret is refused, the right one redeems the code', async () => {
    const cluster = handle.cluster();
    const config = await discover(cluster, 'demo-backend', oidc.ClientSecretBasic(cluster.demoBackendSecret));
    const request = await authorizationRequest(config, 'http://localhost:8080/callback');
    const { callback } = await signIn(cluster, request, ALICE, { expectEmailPage: true });
    const code = callback.searchParams.get('code') ?? '';

    const basic = (secret: string) => `Basic ${Buffer.from(`demo-backend:${secret}`).toString('base64')}`;
    const form = { grant_type: 'authorization_code', code, redirect_uri: redirectUriOf(callback), code_verifier: request.verifier };
    const wrong = await postToken(cluster, form, { authorization: basic('not-the-secret') });
    expect(wrong.status).toBe(401);
    expect(wrong.body['error']).toBe('invalid_client');
    const none = await postToken(cluster, { ...form, client_id: 'demo-backend' });
    expect(none.status).toBe(401);
    expect(none.body['error']).toBe('invalid_client');

    const tokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: request.verifier, expectedState: request.state, expectedNonce: request.nonce });
    const claims = tokens.claims();
    expect(claims).toBeDefined();
    if (!claims) return;
    expect(claims.aud).toBe('demo-backend');
    expectPersonClaims(claims, ALICE, { given: 'Alice', family: 'Anderson' });
    expect((await verifyIdToken(tokens.id_token ?? '', 'demo-backend')).sub).toBe(claims.sub);
    const userinfo = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
    expect(userinfo).toMatchObject({ sub: claims.sub, email: ALICE.email });
    expect(cluster.logs('token-service')).not.toContain(cluster.demoBackendSecret);
  });
});
