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
import { ClientRuleError, clientEntries, tenantEntries } from '@broker/identity';
import { createMemoryStore, keys, type Store } from '@broker/store';
import { redisTestSupport, type OpenStore } from '@broker/store/testing';
import type { BrokerDeps } from './broker.ts';
import { applyConfiguration, clientRecordFromConfig } from './configuration-import.ts';
import { startTokenHarness, type TokenHarness } from './test/token-harness.ts';

const { describeOnMemoryAndRedis, redisAvailable, redisTestUrl } = redisTestSupport;
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

/** The stored keys a manifest lists (without the entry that identifies the import). */
function storedKeys(manifest: string | null): string[] {
  return (JSON.parse(manifest ?? '[]') as string[]).filter((entry) => !entry.startsWith(`${keys.configManifest()}:import:`));
}

/** Every record and index a configuration gives, as the import writes them. */
const entriesOf = (config: ResolvedConfig): Array<[string, string]> => [...config.tenants.flatMap(tenantEntries), ...config.clients.map(clientRecordFromConfig).flatMap(clientEntries)];

/**
 * A version of the demo file with the same keys and other values: the common edit of a tenant's
 * display name, a connection's certificate or a client's redirect URIs.
 */
const edition = (label: string): ResolvedConfig => ({
  ...demo,
  tenants: demo.tenants.map((t) =>
    t.id === 'acme' ? { ...t, displayName: `Acme ${label}`, connections: t.connections.map((c) => ({ ...c, idp: { ...c.idp, certificates: [`certificate of edition ${label}`] } })) } : t,
  ),
  clients: demo.clients.map((c) => (c.clientId === 'demo-native' ? { ...c, redirectUris: [`http://127.0.0.1/callback-${label}`] } : c)),
});

/**
 * One process's view of the store: every call waits 0-3 ms first (a loaded network), so
 * concurrent imports really interleave, and each compare-and-set that commits a manifest is
 * recorded in `commits` (in order) under `label`.
 */
function laggingStore(store: Store, label: string, commits: string[]): Store {
  const lag = () => new Promise((resolve) => setTimeout(resolve, Math.random() * 3));
  return {
    ...store,
    get: async (key) => (await lag(), store.get(key)),
    set: async (key, value, options) => (await lag(), store.set(key, value, options)),
    delete: async (...deleted) => (await lag(), store.delete(...deleted)),
    compareAndSet: async (key, expected, value, options) => {
      await lag();
      const written = await store.compareAndSet(key, expected, value, options);
      if (written && key === keys.configManifest()) commits.push(label);
      return written;
    },
  };
}

function describeImport(kind: string, open: OpenStore): void {
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
      const manifest = storedKeys(await store.get(keys.configManifest()));
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
        const manifest = storedKeys(await store.get(keys.configManifest()));
        for (const key of manifest) expect(await store.get(key), `${key} (round ${round})`).not.toBeNull();
        // Globex is there exactly when the manifest says so, with its indexes.
        const hasGlobex = manifest.includes(keys.tenant('globex'));
        for (const key of [keys.tenant('globex'), keys.tenantByDomain('globex.test'), keys.client('globex-spa')]) expect((await store.get(key)) !== null, `${key} (round ${round})`).toBe(hasGlobex);
      }
    });

    it('imports of files with the same keys and other values at once end as the file committed last, exactly', async () => {
      const files: Record<string, ResolvedConfig> = { A: edition('A'), 'A again': edition('A'), B: edition('B'), 'B with Globex': { ...edition('B'), tenants: [...edition('B').tenants, globex] } };
      const everyKey = new Set(Object.values(files).flatMap((file) => entriesOf(file).map(([key]) => key)));
      for (let round = 0; round < 12; round++) {
        const commits: string[] = [];
        await Promise.all(Object.entries(files).map(([label, file]) => applyConfiguration(laggingStore(store, label, commits), file)));
        const last = commits.at(-1) ?? '';
        const expected = new Map(entriesOf(files[last] as ResolvedConfig));
        for (const key of everyKey) expect(await store.get(key), `${key} after round ${round}, file ${last} committed last`).toBe(expected.get(key) ?? null);
        expect(storedKeys(await store.get(keys.configManifest())).sort()).toEqual([...expected.keys()].sort());
      }
    });

    it('onlyIfMissing: applies the file when the store has no configuration, and leaves any configuration alone', async () => {
      await applyConfiguration(store, before);
      // Redis lost the configuration.
      await store.delete(keys.configManifest(), ...entriesOf(before).map(([key]) => key));
      const restored = await applyConfiguration(store, after, { onlyIfMissing: true });
      expect(restored).toMatchObject({ applied: true, written: entriesOf(after).length });
      expect(await store.get(keys.tenantByDomain('eu.globex.test'))).toBe('acme');
      const manifest = await store.get(keys.configManifest());
      expect(storedKeys(manifest).sort()).toEqual(entriesOf(after).map(([key]) => key).sort());

      // Another file's configuration is there (a newer process imported it): nothing changes.
      expect(await applyConfiguration(store, before, { onlyIfMissing: true })).toEqual({ applied: false, written: 0, removed: [] });
      expect(await store.get(keys.configManifest())).toBe(manifest);
      expect(await store.get(keys.client('globex-spa'))).toBeNull();
      expect(await store.get(keys.tenantByDomain('eu.globex.test'))).toBe('acme');
    });

    it('reads the manifest of an earlier version (a plain list of keys)', async () => {
      await applyConfiguration(store, before);
      await store.set(keys.configManifest(), JSON.stringify(entriesOf(before).map(([key]) => key)));
      const imported = await applyConfiguration(store, after);
      expect(imported.removed).toContain(keys.client('globex-spa'));
      expect(await store.get(keys.client('globex-spa'))).toBeNull();
    });

    it('fails loudly when other imports keep committing first', async () => {
      // Before each compare-and-set of this import, another import commits its manifest.
      const contested: Store = {
        ...store,
        compareAndSet: async (key, expected, value, options) => {
          if (key === keys.configManifest()) await store.set(key, JSON.stringify([`${keys.configManifest()}:import:other:${randomUUID()}`]));
          return store.compareAndSet(key, expected, value, options);
        },
      };
      await expect(applyConfiguration(contested, before)).rejects.toThrow(/overtaken by other processes' imports 10 times/);
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

describeOnMemoryAndRedis('config-import', url, available, describeImport);

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
    // expect.any is vitest's matcher, not the any type: the sub is whatever user id the login made.
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
