// The broker's oidc-provider over HTTP on the in-memory store, with the store's reads counted:
// the token endpoint and userinfo read the session an access token or code belongs to once per
// request (oidc-provider's session binding check), not again for acr and amr; and a session that
// ended still ends its tokens; an account of a tenant the client does not allow gets nothing.
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfigFile } from '@broker/config';
import type { ClientRecord } from '@broker/identity';
import { createMemoryStore, keys, type Store } from '@broker/store';
import { createLogger } from '@broker/telemetry';
import { createProvider } from './provider.ts';
import { createPrefetchingStore } from './request-reads.ts';
import { generateSigningJwks } from './signing-keys.ts';

const demo = loadConfigFile(fileURLToPath(new URL('../../../config/demo/broker.yaml', import.meta.url)), { env: {} });
const REDIRECT_URI = 'http://127.0.0.1:5555/callback';
const native: ClientRecord = {
  clientId: 'demo-native',
  kind: 'native',
  tokenEndpointAuthMethod: 'none',
  redirectUris: ['http://127.0.0.1/callback'],
  postLogoutRedirectUris: [],
  corsOrigins: [],
  allowedTenants: ['acme'],
  firstParty: true,
  idTokenSignedResponseAlg: 'ES256',
  refreshTokens: true,
  ttl: {},
};

const inner = createMemoryStore();
const reads = new Map<string, number>();
/** Every key read from the store, in order. */
const readLog: string[] = [];
const counted: Store = {
  ...inner,
  get: (key) => {
    reads.set(key, (reads.get(key) ?? 0) + 1);
    readLog.push(key);
    return inner.get(key);
  },
};
// As the broker builds it: oidc-provider on a store view that reads ahead within a request.
const store = createPrefetchingStore(counted);
const server = createServer();
let base = '';
let provider: ReturnType<typeof createProvider>;

beforeAll(async () => {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  provider = createProvider({
    config: { ...demo, issuer: base },
    store,
    signingKeys: await generateSigningJwks(),
    cookieKeys: ['test-cookie-key'],
    // Accounts named globex-… belong to Globex, which demo-native does not allow.
    findAccount: (sub) => Promise.resolve(sub.startsWith('globex-') ? { sub, tenant: 'globex', email: 'gina@globex.test' } : { sub, tenant: 'acme', email: 'alice@acme.test' }),
    findClient: (clientId) => Promise.resolve(clientId === native.clientId ? native : undefined),
    resourceServers: [],
    development: true,
    logger: createLogger({ service: 'oidc-test', level: 'silent' }),
  });
  const handle = provider.callback();
  server.on('request', (req, res) => void handle(req, res));
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

/** A signed-in session with a grant for demo-native, as the portal leaves them after a login. */
async function signedIn(accountPrefix = 'user') {
  const uid = randomBytes(16).toString('base64url');
  const accountId = `${accountPrefix}-${uid}`;
  const grant = new provider.Grant({ accountId, clientId: native.clientId });
  grant.addOIDCScope('openid email');
  const grantId = await grant.save();
  // oidc-provider's Session takes its properties and save() its TTL (its type declarations do not say so).
  const Session = provider.Session as unknown as new (properties: Record<string, unknown>) => { save(ttl: number): Promise<unknown>; destroy(): Promise<void> };
  const session = new Session({ uid, accountId, loginTs: Math.floor(Date.now() / 1000), acr: 'urn:test:mfa', amr: ['mfa'], authorizations: { [native.clientId]: { grantId, persistsLogout: false } } });
  await session.save(3600);
  const client = await provider.Client.find(native.clientId);
  if (!client) throw new Error('no client');
  return { uid, accountId, grantId, client, session };
}
const uidReads = (uid: string) => reads.get(keys.oidcUid(uid)) ?? 0;

describe('broker oidc-provider: session reads per request', () => {
  it('the token endpoint reads the code’s session once', async () => {
    const { uid, accountId, grantId, client } = await signedIn();
    const verifier = randomBytes(32).toString('base64url');
    const code = await new provider.AuthorizationCode({
      accountId,
      client,
      grantId,
      scope: 'openid email',
      redirectUri: REDIRECT_URI,
      codeChallenge: createHash('sha256').update(verifier).digest('base64url'),
      codeChallengeMethod: 'S256' as const,
      sessionUid: uid,
      expiresWithSession: true,
      acr: 'urn:test:mfa',
      amr: ['mfa'],
      authTime: Math.floor(Date.now() / 1000),
      gty: 'authorization_code',
    }).save();
    const reply = await fetch(`${base}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier, client_id: native.clientId }),
    });
    const body = (await reply.json()) as { id_token?: string; error_description?: string };
    expect(reply.status, body.error_description).toBe(200);
    expect(body.id_token).toBeTypeOf('string');
    expect(uidReads(uid)).toBe(1);
  });

  it('userinfo reads the access token’s session once and carries its acr and amr', async () => {
    const { uid, accountId, grantId, client } = await signedIn();
    const accessToken = await new provider.AccessToken({ accountId, client, grantId, scope: 'openid email', sessionUid: uid, expiresWithSession: true, gty: 'authorization_code' }).save();
    const reply = await fetch(`${base}/userinfo`, { headers: { authorization: `Bearer ${accessToken}` } });
    expect(reply.status).toBe(200);
    expect(await reply.json()).toMatchObject({ sub: accountId, email: 'alice@acme.test', acr: 'urn:test:mfa', amr: ['mfa'] });
    expect(uidReads(uid)).toBe(1);

    // Every request reads it again: a second call is a second read.
    expect((await fetch(`${base}/userinfo`, { headers: { authorization: `Bearer ${accessToken}` } })).status).toBe(200);
    expect(uidReads(uid)).toBe(2);
  });

  it('userinfo reads the token’s session index, grant and user together, right after the token, each once', async () => {
    const { uid, accountId, grantId, client } = await signedIn();
    const accessToken = await new provider.AccessToken({ accountId, client, grantId, scope: 'openid email', sessionUid: uid, expiresWithSession: true, gty: 'authorization_code' }).save();
    const from = readLog.length;
    expect((await fetch(`${base}/userinfo`, { headers: { authorization: `Bearer ${accessToken}` } })).status).toBe(200);
    const read = readLog.slice(from);
    const tokenAt = read.indexOf(keys.oidcModel('AccessToken', accessToken));
    expect(tokenAt).toBeGreaterThanOrEqual(0);
    expect(read.slice(tokenAt + 1, tokenAt + 4)).toEqual([keys.oidcUid(uid), keys.oidcModel('Grant', grantId), keys.user(accountId)]);
    // Then the session itself (its id comes from the uid index); nothing twice.
    expect(read.slice(tokenAt + 4).some((key) => key.startsWith('oidc:Session:'))).toBe(true);
    expect(new Set(read).size).toBe(read.length);
    // Outside a request nothing is read ahead.
    store.prefetch([keys.user(accountId)]);
    const before = readLog.length;
    expect(await store.get(keys.user(accountId))).toBeNull();
    expect(readLog.slice(before)).toEqual([keys.user(accountId)]);
  });

  it('a token whose session ended is refused at userinfo', async () => {
    const { uid, accountId, grantId, client, session } = await signedIn();
    const accessToken = await new provider.AccessToken({ accountId, client, grantId, scope: 'openid email', sessionUid: uid, expiresWithSession: true, gty: 'authorization_code' }).save();
    expect((await fetch(`${base}/userinfo`, { headers: { authorization: `Bearer ${accessToken}` } })).status).toBe(200);
    await session.destroy();
    const refused = await fetch(`${base}/userinfo`, { headers: { authorization: `Bearer ${accessToken}` } });
    expect(refused.status).toBe(401);
  });

  it('an account of a tenant the client does not allow: its code, refresh token and access token are refused', async () => {
    const post = (form: Record<string, string>) =>
      fetch(`${base}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ client_id: native.clientId, ...form }) });
    for (const prefix of ['user', 'globex']) {
      const { uid, accountId, grantId, client } = await signedIn(prefix);
      const allowed = prefix === 'user';
      const verifier = randomBytes(32).toString('base64url');
      const codeChallenge = createHash('sha256').update(verifier).digest('base64url');
      const code = await new provider.AuthorizationCode({ accountId, client, grantId, scope: 'openid email', redirectUri: REDIRECT_URI, codeChallenge, codeChallengeMethod: 'S256' as const, sessionUid: uid, gty: 'authorization_code' }).save();
      const refreshToken = await new provider.RefreshToken({ accountId, client, grantId, scope: 'openid email', sessionUid: uid, gty: 'authorization_code', iat: Math.floor(Date.now() / 1000) }).save();
      const accessToken = await new provider.AccessToken({ accountId, client, grantId, scope: 'openid email', sessionUid: uid, gty: 'authorization_code' }).save();

      const redeemed = await post({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier });
      const refreshed = await post({ grant_type: 'refresh_token', refresh_token: refreshToken });
      const userinfo = await fetch(`${base}/userinfo`, { headers: { authorization: `Bearer ${accessToken}` } });
      if (allowed) {
        expect([redeemed.status, refreshed.status, userinfo.status]).toEqual([200, 200, 200]);
        continue;
      }
      expect(redeemed.status).toBe(400);
      expect(await redeemed.json()).toMatchObject({ error: 'invalid_grant' });
      expect(refreshed.status).toBe(400);
      expect(await refreshed.json()).toMatchObject({ error: 'invalid_grant' });
      expect(userinfo.status).toBe(401);
      expect(userinfo.headers.get('www-authenticate')).toContain('invalid_token');
    }
  });
});
