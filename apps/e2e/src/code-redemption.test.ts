// Authorization codes in split mode: single use across processes (RFC 6749 section 4.1.2),
// PKCE, and redirect URI checks at the authorization endpoint.
import * as oidc from 'openid-client';
import { describe, expect, it } from 'vitest';
import { ALICE, authorizationRequest, discover, loopbackRedirectUri, postToken, redirectUriOf, signIn, skipWithoutRedis, useSplitCluster } from './support.ts';

describe.skipIf(skipWithoutRedis())('split mode: authorization code redemption', () => {
  const handle = useSplitCluster();

  /** A fresh code for alice and the public client, with what redeeming it takes. */
  const freshCode = async () => {
    const cluster = handle.cluster();
    const config = await discover(cluster, 'demo-native');
    const request = await authorizationRequest(config, loopbackRedirectUri(), { tenant: 'acme' });
    const { callback } = await signIn(cluster, request, ALICE, { expectEmailPage: false });
    const form = {
      grant_type: 'authorization_code',
      client_id: 'demo-native',
      code: callback.searchParams.get('code') ?? '',
      redirect_uri: redirectUriOf(callback),
      code_verifier: request.verifier,
    };
    return { cluster, config, request, callback, form };
  };

  it('a code redeemed twice: the second gets invalid_grant, and the grant (with the first access token) is revoked', async () => {
    const { config, request, callback } = await freshCode();
    const checks = { pkceCodeVerifier: request.verifier, expectedState: request.state, expectedNonce: request.nonce };
    const first = await oidc.authorizationCodeGrant(config, callback, checks);
    const sub = first.claims()?.sub ?? '';
    expect(sub).not.toBe('');
    // The first access token works...
    expect((await oidc.fetchUserInfo(config, first.access_token, sub)).sub).toBe(sub);

    const second = await oidc.authorizationCodeGrant(config, callback, checks).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(second).toBeInstanceOf(oidc.ResponseBodyError);
    expect(second).toMatchObject({ status: 400, error: 'invalid_grant' });

    // ...and no longer after the replay: the tokens issued from the code are revoked.
    const afterReplay = await oidc.fetchUserInfo(config, first.access_token, sub).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(afterReplay).toBeInstanceOf(oidc.WWWAuthenticateChallengeError);
    expect(afterReplay).toMatchObject({ status: 401 });
    const challenge = (afterReplay as oidc.WWWAuthenticateChallengeError).cause[0];
    expect(challenge?.parameters.error).toBe('invalid_token');
  });

  it('20 concurrent redemptions of one code: exactly one succeeds, 19 get invalid_grant', async () => {
    const { cluster, form } = await freshCode();
    const results = await Promise.all(Array.from({ length: 20 }, () => postToken(cluster, form)));
    const ok = results.filter((r) => r.status === 200);
    const refused = results.filter((r) => r.status === 400);
    expect(ok).toHaveLength(1);
    expect(ok[0]?.body).toMatchObject({ token_type: 'Bearer' });
    expect(typeof ok[0]?.body['access_token']).toBe('string');
    expect(typeof ok[0]?.body['id_token']).toBe('string');
    expect(refused).toHaveLength(19);
    for (const r of refused) expect(r.body['error']).toBe('invalid_grant');
  });

  it('a wrong code_verifier gets invalid_grant', async () => {
    const { cluster, form } = await freshCode();
    const wrong = await postToken(cluster, { ...form, code_verifier: oidc.randomPKCECodeVerifier() });
    expect(wrong.status).toBe(400);
    expect(wrong.body['error']).toBe('invalid_grant');
    const none = await postToken(cluster, { ...form, code_verifier: '' });
    expect(none.status).toBe(400);
    expect(none.body['error']).toBe('invalid_grant');
  });

  it('a redirect_uri that is not registered is refused at /authorize, never redirected to', async () => {
    const cluster = handle.cluster();
    const config = await discover(cluster, 'demo-native');
    const port = new URL(loopbackRedirectUri()).port;
    const refusedUris = [
      'https://attacker.example/callback',
      `http://127.0.0.1:${port}/callback/evil`, // differs only in path
      `http://127.0.0.1:${port}/other`, // differs only in path
    ];
    for (const redirectUri of refusedUris) {
      const request = await authorizationRequest(config, redirectUri);
      const response = await fetch(request.url, { redirect: 'manual' });
      const body = await response.text();
      expect(response.status, `${redirectUri}: ${body.slice(0, 300)}`).toBe(400);
      expect(response.headers.get('location')).toBeNull();
      expect(body).not.toContain(redirectUri);
    }
    // The portal logged why (the page only shows a reference).
    expect(cluster.logs('auth-portal')).toContain('oidc error: invalid_redirect_uri');

    // The confidential client's exact URI with another path is refused too.
    const backend = await discover(cluster, 'demo-backend', oidc.ClientSecretBasic(cluster.demoBackendSecret));
    const request = await authorizationRequest(backend, 'http://localhost:8080/callback2');
    const response = await fetch(request.url, { redirect: 'manual' });
    expect(response.status).toBe(400);
    expect(response.headers.get('location')).toBeNull();
    await response.body?.cancel();

    // Control: the registered loopback URI on any port does redirect (to the interaction).
    const allowed = await authorizationRequest(config, `http://127.0.0.1:${port}/callback`);
    const ok = await fetch(allowed.url, { redirect: 'manual' });
    await ok.body?.cancel();
    expect(ok.status).toBeGreaterThanOrEqual(300);
    expect(ok.status).toBeLessThan(400);
    expect(new URL(ok.headers.get('location') ?? '', cluster.issuer).pathname).toMatch(/^\/interaction\//);
  });
});
