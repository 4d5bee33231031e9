// The directory's and the client registry's read cache (cacheTtlMs), on the in-memory store and
// on a real Redis: a record is read from the store once per TTL, a write through the same object
// is seen at once (also by a read that was in flight during the write), another process's write
// after at most the TTL.
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfigFile, type ResolvedTenant } from '@broker/config';
import { createMemoryStore, createRedisStore, type Store } from '@broker/store';
import { redisTestSupport } from '@broker/store/testing';
import { createClientRegistry, type ClientRecord } from './client-registry.ts';
import { createDirectory, importTenants } from './directory.ts';

const { redisAvailable, redisTestUrl, requireRedisInCi, skipRedisTests } = redisTestSupport;
const url = redisTestUrl();
const available = await redisAvailable(url);

const demo = loadConfigFile(fileURLToPath(new URL('../../../config/demo/broker.yaml', import.meta.url)), { env: {} });
const acme = demo.tenants[0] as ResolvedTenant;
const TTL_MS = 5_000;

const client = (changes: Partial<ClientRecord> = {}): ClientRecord => ({
  clientId: 'app',
  displayName: 'App',
  kind: 'spa',
  tokenEndpointAuthMethod: 'none',
  redirectUris: ['https://app.example.test/callback'],
  postLogoutRedirectUris: [],
  corsOrigins: ['https://app.example.test'],
  allowedTenants: ['acme'],
  firstParty: true,
  idTokenSignedResponseAlg: 'ES256',
  refreshTokens: true,
  ttl: {},
  ...changes,
});

/** The store, counting GETs by key. */
function counting(store: Store): { store: Store; gets: (key: string) => number; reset: () => void } {
  const counts = new Map<string, number>();
  return {
    store: {
      ...store,
      get: (key) => {
        counts.set(key, (counts.get(key) ?? 0) + 1);
        return store.get(key);
      },
    },
    gets: (key) => counts.get(key) ?? 0,
    reset: () => counts.clear(),
  };
}

function describeCachedReads(kind: string, open: () => Promise<{ store: Store; close: () => Promise<void> }>): void {
  describe(`cached directory and client reads (${kind} store)`, () => {
    let base: Store;
    let close: () => Promise<void> = () => Promise.resolve();
    beforeAll(async () => {
      ({ store: base, close } = await open());
    });
    afterAll(() => close());
    // Only the clocks are faked (Date, and performance.now, which the cache's expiry runs on): the
    // Redis client keeps its real timers.
    afterEach(() => {
      vi.useRealTimers();
    });
    const advance = (ms: number) => vi.advanceTimersByTime(ms);

    it('reads each record from the store once per TTL, then again', async () => {
      vi.useFakeTimers({ toFake: ['Date', 'performance'] });
      const { store, gets } = counting(base);
      const directory = createDirectory(store, { cacheTtlMs: TTL_MS });
      await directory.importTenants([acme]);
      for (let i = 0; i < 3; i++) {
        expect((await directory.connection('acme-dev-idp'))?.tenant.id).toBe('acme');
        expect((await directory.tenant('acme'))?.id).toBe('acme');
        expect((await directory.tenantForEmail('alice@acme.test'))?.id).toBe('acme');
      }
      expect(gets('tenant:acme')).toBe(1);
      expect(gets('tenant-by-connection:acme-dev-idp')).toBe(1);
      expect(gets('tenant-by-domain:acme.test')).toBe(1);
      advance(TTL_MS - 1);
      await directory.tenant('acme');
      expect(gets('tenant:acme')).toBe(1);
      advance(1);
      await directory.tenant('acme');
      expect(gets('tenant:acme')).toBe(2);
    });

    it('sees a write through the same directory at once, also where it had cached "not found"', async () => {
      const directory = createDirectory(base, { cacheTtlMs: 60_000 });
      const id = `t-${randomUUID().slice(0, 8)}`;
      const tenant: ResolvedTenant = { ...acme, id, displayName: 'Before', emailDomains: [`${id}.test`], connections: [] };
      expect(await directory.tenant(id)).toBeUndefined();
      expect(await directory.tenantForEmail(`bob@${id}.test`)).toBeUndefined();
      await directory.importTenants([tenant]);
      expect((await directory.tenant(id))?.displayName).toBe('Before');
      expect((await directory.tenantForEmail(`bob@${id}.test`))?.id).toBe(id);
      await directory.importTenants([{ ...tenant, displayName: 'After' }]);
      expect((await directory.tenant(id))?.displayName).toBe('After');
    });

    it('never serves the old record after a local write, even from a read in flight during the write', async () => {
      const id = `t-${randomUUID().slice(0, 8)}`;
      await importTenants(base, [{ ...acme, id, displayName: 'Old', emailDomains: [], connections: [] }]);
      let release: () => void = () => {};
      const gate = new Promise<void>((resolve) => (release = resolve));
      let holdNextRead = true;
      // The first read gets the old record from the store and is held until the write is done.
      const slow: Store = {
        ...base,
        get: async (key) => {
          const value = await base.get(key);
          if (holdNextRead) {
            holdNextRead = false;
            await gate;
          }
          return value;
        },
      };
      const directory = createDirectory(slow, { cacheTtlMs: 60_000 });
      const inFlight = directory.tenant(id);
      await directory.importTenants([{ ...acme, id, displayName: 'New', emailDomains: [], connections: [] }]);
      release();
      expect((await inFlight)?.displayName).toBe('Old'); // it started before the write
      expect((await directory.tenant(id))?.displayName).toBe('New');
    });

    it('sees another process’s write after at most the TTL', async () => {
      vi.useFakeTimers({ toFake: ['Date', 'performance'] });
      const id = `t-${randomUUID().slice(0, 8)}`;
      await importTenants(base, [{ ...acme, id, displayName: 'Old', emailDomains: [], connections: [] }]);
      const directory = createDirectory(base, { cacheTtlMs: TTL_MS });
      expect((await directory.tenant(id))?.displayName).toBe('Old');
      // Another process (here: a write straight to the store) changes the tenant.
      await createDirectory(base).importTenants([{ ...acme, id, displayName: 'New', emailDomains: [], connections: [] }]);
      expect((await directory.tenant(id))?.displayName).toBe('Old');
      advance(TTL_MS);
      expect((await directory.tenant(id))?.displayName).toBe('New');
    });

    it('gives every caller its own copy of a record', async () => {
      const directory = createDirectory(base, { cacheTtlMs: 60_000 });
      await directory.importTenants([acme]);
      const first = await directory.tenant('acme');
      if (!first) throw new Error('acme not found');
      first.displayName = 'changed by a caller';
      first.connections.length = 0;
      const second = await directory.tenant('acme');
      expect(second?.displayName).toBe(acme.displayName);
      expect(second?.connections).toHaveLength(acme.connections.length);
    });

    it('reads the store every time without cacheTtlMs', async () => {
      const { store, gets } = counting(base);
      const directory = createDirectory(store);
      await directory.importTenants([acme]);
      await directory.tenant('acme');
      await directory.tenant('acme');
      expect(gets('tenant:acme')).toBe(2);
    });

    it('client registry: one store read per TTL; register() is seen at once, with its CORS origins', async () => {
      vi.useFakeTimers({ toFake: ['Date', 'performance'] });
      const { store, gets } = counting(base);
      const clientId = `app-${randomUUID().slice(0, 8)}`;
      const origin = `https://${clientId}.example.test`;
      const registry = createClientRegistry(store, { development: false, cacheTtlMs: TTL_MS });
      expect(await registry.find(clientId)).toBeUndefined();
      expect(await registry.isCorsOrigin(origin)).toBe(false);
      await registry.register(client({ clientId, displayName: 'Before', corsOrigins: [origin] }));
      expect((await registry.find(clientId))?.displayName).toBe('Before');
      expect(await registry.isCorsOrigin(origin)).toBe(true);
      await registry.find(clientId);
      await registry.isCorsOrigin(origin);
      expect(gets(`client:${clientId}`)).toBe(2); // before and after the register()
      expect(gets(`cors-origin:${origin}`)).toBe(2);
      await registry.register(client({ clientId, displayName: 'After', corsOrigins: [origin] }));
      expect((await registry.find(clientId))?.displayName).toBe('After');

      // Another registry (another process) registers a change: seen here after the TTL.
      await createClientRegistry(base, { development: false }).register(client({ clientId, displayName: 'Elsewhere', corsOrigins: [origin] }));
      expect((await registry.find(clientId))?.displayName).toBe('After');
      advance(TTL_MS);
      expect((await registry.find(clientId))?.displayName).toBe('Elsewhere');
    });

    it('client registry: a refused registration changes nothing and leaves the cache as it was', async () => {
      const clientId = `app-${randomUUID().slice(0, 8)}`;
      const registry = createClientRegistry(base, { development: false, cacheTtlMs: 60_000 });
      await registry.register(client({ clientId }));
      await expect(registry.register(client({ clientId, redirectUris: ['http://evil.example.test/cb'] }))).rejects.toThrow(/redirectUris/);
      expect((await registry.find(clientId))?.redirectUris).toEqual(['https://app.example.test/callback']);
    });
  });
}

describeCachedReads('memory', () => {
  const store = createMemoryStore();
  return Promise.resolve({ store, close: () => store.close() });
});

describe.skipIf(skipRedisTests(available, url))('on Redis', () => {
  const prefix = `test:identity-cache:${randomUUID()}:`;
  let admin: Redis | undefined;
  beforeAll(() => {
    requireRedisInCi(available, url);
    admin = new Redis(url, { maxRetriesPerRequest: 1 });
  });
  afterAll(async () => {
    if (!admin) return;
    let cursor = '0';
    do {
      const [next, found] = await admin.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      if (found.length > 0) await admin.del(...found);
      cursor = next;
    } while (cursor !== '0');
    await admin.quit();
  });

  describeCachedReads('redis', () => {
    const store = createRedisStore({ url, keyPrefix: prefix });
    return Promise.resolve({ store, close: () => store.close() });
  });
});
