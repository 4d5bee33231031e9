// applyConfiguration, on the in-memory store and on a real Redis: the configuration's tenants and
// clients are written with their indexes, and what an earlier import wrote that the configuration
// no longer has is removed (a client, a tenant, a domain, a connection, a CORS origin), while a
// key moved to another tenant and everything not written by an import stay. A client breaking the
// rules changes nothing. Then, on the whole broker: once a tenant is out of the configuration,
// its users' refresh tokens and access tokens stop working, and a removed client gets no tokens.
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfigFile, type ResolvedClient, type ResolvedConfig, type ResolvedConnection, type ResolvedTenant } from '@broker/config';
import { ClientRuleError } from '@broker/identity';
import { createMemoryStore, createRedisStore, keys, type Store } from '@broker/store';
import { redisTestSupport } from '@broker/store/testing';
import type { BrokerDeps } from './broker.ts';
import { applyConfiguration } from './configuration-import.ts';
import { startTokenHarness, type TokenHarness } from './test/token-harness.ts';

const { redisAvailable, redisTestUrl, skipRedisTests, useRedisPrefix } = redisTestSupport;
const url = redisTestUrl();
const available = await redisAvailable(url);

const demo = loadConfigFile(fileURLToPath(new URL('../../../config/demo/broker.yaml', import.meta.url)), { env: {} });
const acme = demo.tenants[0] as ResolvedTenant;
const acmeConnection = acme.connections[0] as ResolvedConnection;
const spa = demo.clients.find((c) => c.clientId === 'demo-spa') as ResolvedClient;
const native = demo.clients.find((c) => c.clientId === 'demo-native') as ResolvedClient;

const globex: ResolvedTenant = {
  ...acme,
  id: 'globex',
  displayName: 'Globex',
  emailDomains: ['globex.test', 'eu.globex.test'],
  externalIds: { organization: 'globex-org' },
  connections: [
    { ...acmeConnection, id: 'globex-okta' },
    { ...acmeConnection, id: 'globex-entra' },
  ],
};
/** The demo configuration, Globex, and an app for Globex (a SPA with two origins). */
const before: ResolvedConfig = {
  ...demo,
  tenants: [...demo.tenants, globex],
  clients: [
    ...demo.clients,
    { ...spa, clientId: 'globex-spa', corsOrigins: ['https://globex.example.test', 'https://old.globex.example.test'], redirectUris: ['https://globex.example.test/cb'], allowedTenants: ['globex'] },
  ],
};
/**
 * The next version of the file: Globex's app gone (with its two origins), Globex without its Entra
 * connection, eu.globex.test moved to Acme, demo-spa without its origin.
 */
const after: ResolvedConfig = {
  ...demo,
  tenants: [
    { ...acme, emailDomains: [...acme.emailDomains, 'eu.globex.test'] },
    { ...globex, emailDomains: ['globex.test'], connections: [{ ...acmeConnection, id: 'globex-okta' }] },
  ],
  clients: demo.clients.map((c) => (c.clientId === 'demo-spa' ? { ...c, corsOrigins: [] } : c)),
};

function describeImport(kind: string, open: () => Promise<{ store: Store; close: () => Promise<void> }>): void {
  describe(`applyConfiguration (${kind} store)`, () => {
    let store: Store;
    let close: () => Promise<void> = () => Promise.resolve();
    beforeAll(async () => {
      ({ store, close } = await open());
    });
    afterAll(() => close());

    it('writes tenants, clients and their indexes, and lists them in the manifest', async () => {
      const imported = await applyConfiguration(store, before);
      expect(imported.removed).toEqual([]);
      expect(JSON.parse((await store.get(keys.tenant('globex'))) ?? 'null')).toMatchObject({ id: 'globex', displayName: 'Globex' });
      expect(await store.get(keys.tenantByDomain('eu.globex.test'))).toBe('globex');
      expect(await store.get(keys.tenantByConnection('globex-entra'))).toBe('globex');
      expect(await store.get(keys.tenantByExternalId('organization', 'globex-org'))).toBe('globex');
      expect(JSON.parse((await store.get(keys.client('globex-spa'))) ?? 'null')).toMatchObject({ clientId: 'globex-spa', kind: 'spa' });
      expect(await store.get(keys.corsOrigin('https://old.globex.example.test'))).toBe('1');
      const manifest = JSON.parse((await store.get(keys.configManifest())) ?? '[]') as string[];
      expect(manifest).toHaveLength(imported.written);
      expect(manifest).toContain(keys.client('globex-spa'));
      expect(manifest).toContain(keys.tenantByDomain('acme.test'));
      // The same file again changes nothing.
      expect((await applyConfiguration(store, before)).removed).toEqual([]);
    });

    it('the next file: what it no longer has is removed; moved keys, users and other keys stay', async () => {
      await applyConfiguration(store, before);
      // Not written by an import: a user, and a client registered by other means.
      await store.set(keys.user('u-1'), JSON.stringify({ id: 'u-1', tenantId: 'globex' }));
      await store.set(keys.client('made-elsewhere'), '{}');

      const imported = await applyConfiguration(store, after);
      expect(imported.removed.sort()).toEqual(
        [
          keys.client('globex-spa'),
          keys.corsOrigin('https://globex.example.test'),
          keys.corsOrigin('https://old.globex.example.test'),
          keys.corsOrigin('http://localhost:5173'),
          keys.tenantByConnection('globex-entra'),
        ].sort(),
      );
      for (const key of imported.removed) expect(await store.get(key), key).toBeNull();
      // Moved to Acme, not removed.
      expect(await store.get(keys.tenantByDomain('eu.globex.test'))).toBe('acme');
      expect(JSON.parse((await store.get(keys.tenant('globex'))) ?? 'null')).toMatchObject({ emailDomains: ['globex.test'] });
      expect(await store.get(keys.user('u-1'))).not.toBeNull();
      expect(await store.get(keys.client('made-elsewhere'))).toBe('{}');

      // The file before again: everything is back.
      expect((await applyConfiguration(store, before)).removed).toEqual([]);
      expect(await store.get(keys.tenantByDomain('eu.globex.test'))).toBe('globex');
      expect(await store.get(keys.corsOrigin('https://old.globex.example.test'))).toBe('1');
    });

    it('a tenant taken out of the file goes with all its indexes', async () => {
      await applyConfiguration(store, before);
      const withoutGlobex: ResolvedConfig = { ...before, tenants: demo.tenants, clients: demo.clients };
      const imported = await applyConfiguration(store, withoutGlobex);
      expect(imported.removed).toEqual(
        expect.arrayContaining([
          keys.tenant('globex'),
          keys.tenantByDomain('globex.test'),
          keys.tenantByDomain('eu.globex.test'),
          keys.tenantByConnection('globex-okta'),
          keys.tenantByConnection('globex-entra'),
          keys.tenantByExternalId('organization', 'globex-org'),
          keys.client('globex-spa'),
        ]),
      );
      expect(await store.get(keys.tenant('globex'))).toBeNull();
      expect(await store.get(keys.tenant('acme'))).not.toBeNull();
      expect(await store.get(keys.corsOrigin('http://localhost:5173'))).toBe('1');
    });

    it('a client breaking the rules stops the import before anything is written or removed', async () => {
      await applyConfiguration(store, before);
      const manifest = await store.get(keys.configManifest());
      const bad: ResolvedConfig = {
        ...after,
        tenants: [...after.tenants, { ...globex, id: 'initech', emailDomains: ['initech.test'], externalIds: {}, connections: [{ ...acmeConnection, id: 'initech-idp' }] }],
        clients: [...after.clients, { ...native, clientId: 'bad-native', redirectUris: ['http://localhost/callback'] }],
      };
      const error = await applyConfiguration(store, bad).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(ClientRuleError);
      expect((error as ClientRuleError).problems.join('\n')).toMatch(/localhost/);
      expect(await store.get(keys.tenant('initech'))).toBeNull();
      expect(await store.get(keys.client('bad-native'))).toBeNull();
      expect(await store.get(keys.client('globex-spa'))).not.toBeNull();
      expect(await store.get(keys.configManifest())).toBe(manifest);
    });

    it('imports of two files at once end as one whole file: the manifest and the store agree', async () => {
      const withoutGlobex: ResolvedConfig = { ...before, tenants: demo.tenants, clients: demo.clients };
      for (let round = 0; round < 10; round++) {
        await Promise.all([applyConfiguration(store, round % 2 ? before : withoutGlobex), applyConfiguration(store, round % 2 ? withoutGlobex : before)]);
        const manifest = JSON.parse((await store.get(keys.configManifest())) ?? '[]') as string[];
        for (const key of manifest) expect(await store.get(key), `${key} (round ${round})`).not.toBeNull();
        // Globex is there exactly when the manifest says so, with its indexes.
        const hasGlobex = manifest.includes(keys.tenant('globex'));
        for (const key of [keys.tenant('globex'), keys.tenantByDomain('globex.test'), keys.client('globex-spa')]) expect((await store.get(key)) !== null, `${key} (round ${round})`).toBe(hasGlobex);
      }
    });

    it('a manifest that is not a list of keys removes nothing and is replaced', async () => {
      await store.set(keys.configManifest(), '{"not":"a list"}');
      await store.set(keys.client('kept'), '{}');
      expect((await applyConfiguration(store, before)).removed).toEqual([]);
      expect(await store.get(keys.client('kept'))).toBe('{}');
      expect(JSON.parse((await store.get(keys.configManifest())) ?? 'null')).toEqual(expect.arrayContaining([keys.client('globex-spa')]));
    });
  });
}

describeImport('memory', () => {
  const store = createMemoryStore();
  return Promise.resolve({ store, close: () => store.close() });
});

describe.skipIf(skipRedisTests(available, url))('on Redis', () => {
  const prefix = useRedisPrefix(url, available, 'config-import');

  describeImport('redis', () => {
    const store = createRedisStore({ url, keyPrefix: prefix });
    return Promise.resolve({ store, close: () => store.close() });
  });
});

describe('the broker after a tenant and a client are taken out of the configuration', () => {
  const store = createMemoryStore();
  let harness: TokenHarness;
  beforeAll(async () => {
    harness = await startTokenHarness(store);
  });
  afterAll(async () => {
    await harness.close();
    await store.close();
  });
  /** Apps for both tenants (demo-backend too, which introspects its own tokens), and one for Globex only. */
  const shared: ResolvedClient = { ...native, clientId: 'shared-native', allowedTenants: ['acme', 'globex'] };
  const globexOnly: ResolvedClient = { ...native, clientId: 'globex-native', allowedTenants: ['globex'] };
  const backends = (allowedTenants: string[]) => demo.clients.map((c) => (c.clientId === 'demo-backend' ? { ...c, allowedTenants } : c));
  const first: ResolvedConfig = { ...demo, tenants: [...demo.tenants, globex], clients: [...backends(['acme', 'globex']), shared, globexOnly], cache: { directoryTtlSeconds: 0 } };
  const second: ResolvedConfig = { ...demo, clients: [...backends(['acme']), { ...shared, allowedTenants: ['acme'] }], cache: { directoryTtlSeconds: 0 } };
  const BACKEND = { id: 'demo-backend', secret: 'demo-backend-secret-not-for-production' };

  /** A Globex user's session, grant, refresh token and access token for `clientId`, as a login leaves them. */
  const tokensOf = async (d: BrokerDeps, clientId: string) => {
    const user = await d.users.provision({ tenantId: 'globex', userIdType: 'federationId', userId: `gina-${randomUUID()}`, email: 'gina@globex.test', role: 'member' });
    return harness.tokensFor(d, user.id, clientId);
  };
  const refresh = (clientId: string, refreshToken: string) => harness.refresh(clientId, refreshToken);
  const userinfo = async (accessToken: string) => (await harness.userinfo(accessToken)).status;
  /** demo-backend introspects one of its own tokens. */
  const introspect = async (token: string) => {
    const reply = await harness.introspect(BACKEND, token);
    expect(reply.status).toBe(200);
    return reply.body as { active: boolean; sub?: string };
  };

  it('a Globex user’s tokens work while Globex is configured, and stop when it is not', async () => {
    let current: BrokerDeps = await harness.use(first);
    const viaShared = await tokensOf(current, 'shared-native');
    const viaGlobexApp = await tokensOf(current, 'globex-native');
    const renewed = await refresh('shared-native', viaShared.refreshToken);
    expect(renewed.status, JSON.stringify(renewed.body)).toBe(200);
    expect(await userinfo(viaShared.accessToken)).toBe(200);
    expect((await refresh('globex-native', viaGlobexApp.refreshToken)).status).toBe(200);
    const viaBackend = await tokensOf(current, 'demo-backend');
    expect(await introspect(viaBackend.accessToken)).toMatchObject({ active: true, sub: expect.any(String) });
    expect(await introspect(viaBackend.refreshToken)).toMatchObject({ active: true });

    // The next start: Globex and its app are gone from the file; the shared app allows Acme only.
    current = await harness.use(second);
    expect(await store.get(keys.tenant('globex'))).toBeNull();
    expect(await store.get(keys.client('globex-native'))).toBeNull();
    const refused = await refresh('shared-native', String(renewed.body['refresh_token']));
    expect(refused).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect(await userinfo(String(renewed.body['access_token']))).toBe(401);
    // Introspection (what an API taking opaque tokens relies on) says so too.
    expect(await introspect(viaBackend.accessToken)).toEqual({ active: false });
    expect(await introspect(viaBackend.refreshToken)).toEqual({ active: false });
    // The removed app cannot even authenticate.
    expect(await refresh('globex-native', viaGlobexApp.refreshToken)).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
  });

  it('a user of a tenant that is configured but not allowed by the client gets nothing either', async () => {
    // Globex configured, but the shared app allows Acme only.
    const current = await harness.use({ ...first, clients: [...demo.clients, { ...shared, allowedTenants: ['acme'] }, globexOnly] });
    const tokens = await tokensOf(current, 'shared-native');
    expect(await refresh('shared-native', tokens.refreshToken)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect(await userinfo(tokens.accessToken)).toBe(401);
    // The same for the app Globex may use: it works.
    const ok = await tokensOf(current, 'globex-native');
    expect((await refresh('globex-native', ok.refreshToken)).status).toBe(200);
    expect(await userinfo(ok.accessToken)).toBe(200);
  });
});
