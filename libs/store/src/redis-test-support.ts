/**
 * Test support for suites that need a real Redis (this lib's and other libs'). Not for
 * production code. The policy: outside CI a missing Redis skips those suites with a loud
 * warning, so a laptop without Redis still gets a useful run; in CI it fails the run, so a broken
 * Redis service can never turn into silently skipped tests.
 *
 *   const url = redisTestUrl();
 *   const available = await redisAvailable(url);
 *   describe.skipIf(skipRedisTests(available, url))('...', () => {
 *     beforeAll(() => requireRedisInCi(available, url));
 *     ...
 *   });
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe } from 'vitest';
import { createMemoryStore } from './memory-store.ts';
import { createRedisStore } from './redis-store.ts';
import { deleteKeysUnder } from './scan.ts';
import type { Store } from './store.ts';

/** REDIS_URL, or the local default. */
export function redisTestUrl(): string {
  return process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
}

export function isCi(): boolean {
  return process.env.CI === 'true';
}

/** True when Redis at `url` answers PING within `timeoutMs`. Never throws. */
export async function redisAvailable(url: string, timeoutMs = 1500): Promise<boolean> {
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null, // one attempt: this is a probe
    enableOfflineQueue: false,
  });
  redis.on('error', () => {}); // the failure is the answer; no "unhandled error event" noise
  try {
    await redis.connect();
    await redis.ping();
    return true;
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

/** For `describe.skipIf`: true (after a loud warning) when Redis is unreachable outside CI. */
export function skipRedisTests(available: boolean, url: string): boolean {
  if (available || isCi()) return false;
  // eslint-disable-next-line no-console -- a skipped suite must be visible in the test output
  console.warn(
    `\n*** Redis tests SKIPPED: no Redis at ${url}. Start one (or set REDIS_URL) to run them. ` +
      `In CI (CI=true) an unreachable Redis fails the run instead. ***\n`,
  );
  return true;
}

/** For `beforeAll`: throws in CI when Redis is unreachable, so the suite fails. */
export function requireRedisInCi(available: boolean, url: string): void {
  if (!available && isCi()) {
    throw new Error(`Redis is required in CI (CI=true) but is not reachable at ${url}`);
  }
}

/** Delete every key under `prefix` (SCAN, never KEYS: KEYS blocks a shared server). */
export { deleteKeysUnder };

/**
 * For a describe block on Redis (inside `describe.skipIf(skipRedisTests(...))`): a fresh key
 * prefix for its stores; the block fails in CI when Redis is unreachable (requireRedisInCi), and
 * every key under the prefix is deleted after it.
 */
export function useRedisPrefix(url: string, available: boolean, label: string): string {
  const prefix = `test:${label}:${randomUUID()}:`;
  let admin: Redis | undefined;
  beforeAll(() => {
    requireRedisInCi(available, url);
    admin = new Redis(url, { maxRetriesPerRequest: 1 });
  });
  afterAll(async () => {
    if (!admin) return;
    await deleteKeysUnder(admin, prefix);
    await admin.quit();
  });
  return prefix;
}

/** Opens a fresh store for a suite, and how to close it. */
export type OpenStore = () => Promise<{ store: Store; close: () => Promise<void> }>;

/**
 * Declare a suite twice: on the in-memory store, and on Redis (under a fresh key prefix deleted
 * afterwards, skipped or failed as skipRedisTests and requireRedisInCi say). `available` is
 * `await redisAvailable(url)`, taken once at the top of the test file.
 */
export function describeOnMemoryAndRedis(label: string, url: string, available: boolean, describeSuite: (kind: 'memory' | 'redis', open: OpenStore) => void): void {
  describeSuite('memory', () => {
    const store = createMemoryStore();
    return Promise.resolve({ store, close: () => store.close() });
  });
  describe.skipIf(skipRedisTests(available, url))('on Redis', () => {
    const prefix = useRedisPrefix(url, available, label);
    describeSuite('redis', () => {
      const store = createRedisStore({ url, keyPrefix: prefix });
      return Promise.resolve({ store, close: () => store.close() });
    });
  });
}
