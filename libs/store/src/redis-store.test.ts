import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisStore } from './redis-store.ts';
import { deleteKeysUnder, redisAvailable, redisTestUrl, requireRedisInCi, skipRedisTests } from './redis-test-support.ts';
import { describeStoreContract } from './store.contract.ts';

const url = redisTestUrl();
const available = await redisAvailable(url);

// Skipped (with a loud warning) only when Redis is unreachable outside CI; in CI the suite runs
// and requireRedisInCi fails it, so a missing Redis can never pass as green.
describe.skipIf(skipRedisTests(available, url))('redis store', () => {
  const prefix = `test:${randomUUID()}:`;
  let admin: Redis;

  beforeAll(() => {
    requireRedisInCi(available, url);
    admin = new Redis(url, { maxRetriesPerRequest: 1 });
  });
  afterAll(async () => {
    if (!available) return; // beforeAll already failed the suite; there is nothing to clean
    await deleteKeysUnder(admin, prefix);
    await admin.quit();
  });

  describeStoreContract('redis', () => {
    const store = createRedisStore({ url, keyPrefix: prefix });
    return Promise.resolve({ store, cleanup: () => store.close() });
  });

  it('sends the commands of one tick in one socket write, and later ones in their own', async () => {
    const redis = new Redis(url, { maxRetriesPerRequest: 1 });
    try {
      await redis.ping();
      const store = createRedisStore({ redis, keyPrefix: `${prefix}batched:` });
      // What reaches the socket: each _write or _writev call is one system call's worth.
      const socket = redis.stream as unknown as { _write: (...a: unknown[]) => unknown; _writev: (...a: unknown[]) => unknown };
      const calls: string[] = [];
      const write = socket._write.bind(socket);
      const writev = socket._writev.bind(socket);
      socket._write = (...args) => (calls.push('write'), write(...args));
      socket._writev = (chunks: unknown, ...rest) => (calls.push(`writev ${(chunks as unknown[]).length}`), writev(chunks, ...rest));

      await Promise.all([store.set('a', '1', { ttlSeconds: 30 }), store.addToSet('s', 'm', 30), store.get('a'), store.take('b')]);
      expect(calls).toEqual(['writev 4']);
      expect(await store.get('a')).toBe('1');
      // A later tick's command: a write of its own.
      expect(calls).toEqual(['writev 4', 'write']);
      expect(await store.members('s')).toEqual(['m']);
    } finally {
      await redis.quit();
    }
  });

  it('prefixes keys and leaves a borrowed client open on close()', async () => {
    const store = createRedisStore({ redis: admin, keyPrefix: `${prefix}borrowed:` });
    await store.set('k', 'v', { ttlSeconds: 30 });
    expect(await admin.get(`${prefix}borrowed:k`)).toBe('v');
    await store.close();
    expect(admin.status).toBe('ready');
    expect(await admin.ping()).toBe('PONG');
  });

  it('uses broker: as the default prefix and quits an owned connection on close()', async () => {
    const store = createRedisStore({ url });
    const key = `${prefix}default-prefix`; // stored as broker:test:<uuid>:default-prefix
    await store.set(key, 'v', { ttlSeconds: 30 });
    expect(await admin.get(`broker:${key}`)).toBe('v');
    expect(await store.delete(key)).toBe(1);
    await store.close();
    await expect(store.ping()).rejects.toThrow();
  });

  it('keeps a capped list as a real Redis list (LPUSH order) with a TTL', async () => {
    const store = createRedisStore({ redis: admin, keyPrefix: `${prefix}list:` });
    await store.pushCapped('k', 'old', 2, 30);
    await store.pushCapped('k', 'new', 2, 30);
    await store.pushCapped('k', 'newest', 2, 30);
    expect(await admin.type(`${prefix}list:k`)).toBe('list');
    expect(await admin.lrange(`${prefix}list:k`, 0, -1)).toEqual(['newest', 'new']);
    expect(await admin.ttl(`${prefix}list:k`)).toBeGreaterThan(0);
    await store.close();
  });

  it('reads and removes members of a plain set an earlier version wrote (SADD), and keeps addToSet\'s as a sorted set', async () => {
    const store = createRedisStore({ redis: admin, keyPrefix: `${prefix}sets:` });
    await admin.sadd(`${prefix}sets:legacy`, 'a', 'b', 'c');
    expect((await store.members('legacy')).sort()).toEqual(['a', 'b', 'c']);
    await store.removeFromSet('legacy', 'b', 'absent');
    expect((await store.members('legacy')).sort()).toEqual(['a', 'c']);
    expect(await admin.type(`${prefix}sets:legacy`)).toBe('set');
    await store.addToSet('current', 'm', 30);
    expect(await admin.type(`${prefix}sets:current`)).toBe('zset');
    expect(await store.members('current')).toEqual(['m']);
    // An old plain set is never pruned: a user signing in for years leaves thousands of members.
    const many = Array.from({ length: 10_000 }, (_, i) => `s${i}`);
    await admin.sadd(`${prefix}sets:big`, ...many);
    expect(await store.members('big')).toHaveLength(10_000);
    await store.removeFromSet('big', ...many);
    expect(await admin.exists(`${prefix}sets:big`)).toBe(0);
    await store.close();
  });

  it('requires exactly one of url and redis', () => {
    expect(() => createRedisStore({})).toThrow(TypeError);
    expect(() => createRedisStore({ url, redis: admin })).toThrow(TypeError);
  });
});
