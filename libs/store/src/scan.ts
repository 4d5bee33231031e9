import type { Redis } from 'ioredis';

/**
 * Every key matching `match` (a SCAN pattern), by SCAN: never KEYS, which blocks a shared server.
 * For operators' tools and tests, not the broker's own requests.
 */
export async function scanKeys(redis: Redis, match: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', match, 'COUNT', 1000);
    found.push(...keys);
    cursor = next;
  } while (cursor !== '0');
  return found;
}

/** Delete every key under `prefix` (found by SCAN); how many there were. */
export async function deleteKeysUnder(redis: Redis, prefix: string): Promise<number> {
  const keys = await scanKeys(redis, `${prefix}*`);
  let deleted = 0;
  // DEL in batches: one command with every key of a long run would be one huge request.
  for (let i = 0; i < keys.length; i += 1000) deleted += await redis.del(...keys.slice(i, i + 1000));
  return deleted;
}
