// Rotating the token signing key (secrets.signingKeys) in split mode, step by step as
// docs/configuration.md ("Rotating the signing keys") describes it: add the new key, roll it out,
// promote it, retire the old one. The broker processes restart between steps, as a deployment
// would, on the same Redis; tokens issued before a step are checked after it against the JWKS
// the token service then publishes.
import { createLocalJWKSet, decodeProtectedHeader, exportJWK, generateKeyPair, jwtVerify, type JWK } from 'jose';
import * as oidc from 'openid-client';
import { describe, expect, it } from 'vitest';
import type { SigningJwks } from '@broker/oidc';
import { ALICE, authorizationRequest, discover, ES256_CLIENT, loopbackRedirectUri, rejection, signIn, skipWithoutRedis, useSplitCluster } from './support.ts';

const API = 'https://api.e2e.test';

const signingKey = async (kid: string): Promise<JWK> => {
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  return { ...(await exportJWK(privateKey)), kid, alg: 'ES256', use: 'sig' };
};
const keyA = await signingKey('signing-key-a');
const keyB = await signingKey('signing-key-b');
const jwks = (...keys: JWK[]): SigningJwks => ({ keys });

describe.skipIf(skipWithoutRedis())('split mode: signing key rotation', () => {
  const handle = useSplitCluster({
    signingKeys: jwks(keyA),
    resourceServers: [{ identifier: API, scopes: ['api:read'], accessTokenFormat: 'jwt' }],
  });

  interface Issued {
    idToken: string;
    accessToken: string;
  }
  /** A sign-in for demo-native asking for a JWT access token for the API (resource indicator). */
  const issue = async (): Promise<Issued> => {
    const cluster = handle.cluster();
    const config = await discover(cluster, 'demo-native', oidc.None(), ES256_CLIENT);
    const request = await authorizationRequest(config, loopbackRedirectUri(), { tenant: 'acme', scope: 'openid email api:read', resource: API });
    const { callback } = await signIn(cluster, request, ALICE, { expectEmailPage: false });
    const tokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: request.verifier, expectedState: request.state, expectedNonce: request.nonce, idTokenExpected: true });
    return { idToken: tokens.id_token ?? '', accessToken: tokens.access_token };
  };
  const kidOf = (token: string): string | undefined => decodeProtectedHeader(token).kid;
  /** The kids the token service publishes now. */
  const publishedKids = async (): Promise<string[]> => {
    const response = await fetch(`${handle.cluster().issuer}/jwks`);
    const body = (await response.json()) as { keys: JWK[] };
    for (const key of body.keys) expect(key.d, 'no private part is published').toBeUndefined();
    return body.keys.map((key) => key.kid ?? '');
  };
  /** Verify both tokens against the JWKS published now, as an app and an API would. */
  const verifyNow = async ({ idToken, accessToken }: Issued): Promise<void> => {
    const { issuer } = handle.cluster();
    const keySet = createLocalJWKSet((await (await fetch(`${issuer}/jwks`)).json()) as { keys: JWK[] });
    const id = await jwtVerify(idToken, keySet, { issuer, audience: 'demo-native' });
    expect(id.payload['email']).toBe(ALICE.email);
    const access = await jwtVerify(accessToken, keySet, { issuer, audience: API, typ: 'at+jwt' });
    expect(access.payload['scope']).toContain('api:read');
  };

  it('add, roll out, promote, retire: earlier tokens verify until their key is retired; new ones are signed by the promoted key', async () => {
    const cluster = handle.cluster();

    // Before: A alone signs.
    const byA = await issue();
    expect([kidOf(byA.idToken), kidOf(byA.accessToken)]).toEqual([keyA.kid, keyA.kid]);
    expect(await publishedKids()).toEqual([keyA.kid]);
    await verifyNow(byA);

    // 1. Add B after A, and roll it out to every process: B is published, A still signs.
    await cluster.restart({ signingKeys: jwks(keyA, keyB) });
    expect(await publishedKids()).toEqual([keyA.kid, keyB.kid]);
    const stillA = await issue();
    expect([kidOf(stillA.idToken), kidOf(stillA.accessToken)]).toEqual([keyA.kid, keyA.kid]);
    await verifyNow(byA);

    // 2. Promote B (first): B signs, A is still published, so A's tokens stay valid.
    await cluster.restart({ signingKeys: jwks(keyB, keyA) });
    expect(await publishedKids()).toEqual([keyB.kid, keyA.kid]);
    const byB = await issue();
    expect([kidOf(byB.idToken), kidOf(byB.accessToken)]).toEqual([keyB.kid, keyB.kid]);
    await verifyNow(byB);
    await verifyNow(byA);
    await verifyNow(stillA);

    // 3. Retire A (once A's last tokens have expired): B alone; a token signed by A no longer verifies.
    await cluster.restart({ signingKeys: jwks(keyB) });
    expect(await publishedKids()).toEqual([keyB.kid]);
    await verifyNow(byB);
    const retired = await rejection(verifyNow(byA));
    expect(retired).toBeInstanceOf(Error);
    expect((retired as Error & { code?: string }).code).toBe('ERR_JWKS_NO_MATCHING_KEY');
    // And the broker goes on signing in with B.
    const afterRetirement = await issue();
    expect(kidOf(afterRetirement.idToken)).toBe(keyB.kid);
    await verifyNow(afterRetirement);
  }, 90_000);
});
