// The directory's and the client registry's read cache (cacheTtlMs), on the in-memory store and
// on a real Redis: a record is read from the store once per TTL, a registration through the same
// registry is seen at once, another process's write after at most the TTL. (read-cache.test.ts
// covers a read in flight during a write.)
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfigFile, type ResolvedTenant } from '@broker/config';
import type { Store } from '@broker/store';
import { redisTestSupport, type OpenStore } from '@broker/store/testing';
import { createClientRegistry, type ClientRecord } from './client-registry.ts';
import { createDirectory, importTenants } from './directory.ts';

const { describeOnMemoryAndRedis, redisAvailable, redisTestUrl } = redisTestSupport;
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

function describeCachedReads(kind: string, open: OpenStore): void {
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
      await importTenants(store, [acme]);
      const directory = createDirectory(store, { cacheTtlMs: TTL_MS });
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

    it('sees another process’s write after at most the TTL', async () => {
      vi.useFakeTimers({ toFake: ['Date', 'performance'] });
      const id = `t-${randomUUID().slice(0, 8)}`;
      await importTenants(base, [{ ...acme, id, displayName: 'Old', emailDomains: [], connections: [] }]);
      const directory = createDirectory(base, { cacheTtlMs: TTL_MS });
      expect((await directory.tenant(id))?.displayName).toBe('Old');
      // Another process (here: a write straight to the store) changes the tenant.
      await importTenants(base, [{ ...acme, id, displayName: 'New', emailDomains: [], connections: [] }]);
      expect((await directory.tenant(id))?.displayName).toBe('Old');
      advance(TTL_MS);
      expect((await directory.tenant(id))?.displayName).toBe('New');
    });

    it('gives every caller its own copy of a record', async () => {
      await importTenants(base, [acme]);
      const directory = createDirectory(base, { cacheTtlMs: 60_000 });
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
      await importTenants(store, [acme]);
      const directory = createDirectory(store);
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

describeOnMemoryAndRedis('identity-cache', url, available, describeCachedReads);
