import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { isRedisUnavailability, StoreUnavailableError } from './errors.ts';
import type { ConsumeAndClaimResult, ConsumeResult, Store, WriteOptions } from './store.ts';
import { assertConsumedAt, assertCount, assertTtlSeconds, ttlOf } from './validation.ts';

/** Exactly one of `url` and `redis`. */
export interface RedisStoreOptions {
  /** Connect to this URL (redis:// or rediss://). The store owns the connection: close() quits it. */
  url?: string;
  /**
   * Use this client instead. The store does not own it: close() leaves it open, and its own
   * options (timeouts, retries) apply, and its own ioredis `keyPrefix`, if any, comes on top.
   */
  redis?: Redis;
  /** Prepended to every key. Default 'broker:'. Must not contain '{' (it would break hash tags). */
  keyPrefix?: string;
  /** Per-command timeout for an owned connection, in ms. Default 2000. */
  commandTimeoutMs?: number;
  /**
   * Told about connection errors of an owned connection (ioredis reconnects by itself). Without
   * a listener ioredis prints "Unhandled error event" for each one.
   */
  onConnectionError?: (error: Error) => void;
}

/**
 * consumeJson, atomically.
 *   KEYS[1]  the (prefixed) key of a JSON object
 *   ARGV[1]  `at`: a JSON number (epoch seconds) to store in the `consumed` field
 * Returns 0 = missing, 1 = consumed by this call, 2 = already consumed (a `consumed` that is
 * present and not null). Error reply when the value is not a JSON object.
 */
const CONSUME_JSON_LUA = `
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local ok, doc = pcall(cjson.decode, raw)
if not ok or type(doc) ~= 'table' or not string.find(raw, '^%s*{') then
  return redis.error_reply('ERR store: value is not a JSON object')
end
if doc.consumed ~= nil and doc.consumed ~= cjson.null then return 2 end
-- Append the field to the original text instead of cjson.encode(doc): re-encoding would turn
-- [] into {} and round numbers to 14 digits. If "consumed": null was present, the appended
-- duplicate wins, since JSON parsers keep the last value of a repeated key.
local body = string.match(raw, '^(.*)}%s*$')
local sep = ','
if next(doc) == nil then sep = '' end
redis.call('SET', KEYS[1], body .. sep .. '"consumed":' .. ARGV[1] .. '}', 'KEEPTTL')
return 1
`;

/**
 * compareAndSet, atomically.
 *   KEYS[1]  the key
 *   ARGV[1]  '1' when the key must hold ARGV[2], '0' when it must be absent
 *   ARGV[2]  the expected value
 *   ARGV[3]  the new value
 *   ARGV[4]  the TTL in seconds, or '' for a durable value
 * Returns 1 when written, 0 when the key held something else.
 */
const COMPARE_AND_SET_LUA = `
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
  if current ~= ARGV[2] then return 0 end
elseif current then
  return 0
end
if ARGV[4] == '' then redis.call('SET', KEYS[1], ARGV[3]) else redis.call('SET', KEYS[1], ARGV[3], 'EX', ARGV[4]) end
return 1
`;

/**
 * consumeAndClaim, atomically (one round trip).
 *   KEYS[1]  the key to take (GETDEL)
 *   KEYS[2]  the key to claim (SET NX EX) when KEYS[1] was there; same hash tag on a cluster
 *   ARGV[1]  the claim's TTL in seconds
 * Returns 0 = KEYS[1] missing (nothing changed), 1 = claimed, 2 = KEYS[1] taken, KEYS[2] existed.
 */
const CONSUME_AND_CLAIM_LUA = `
if not redis.call('GETDEL', KEYS[1]) then return 0 end
if redis.call('SET', KEYS[2], '1', 'EX', ARGV[1], 'NX') then return 1 end
return 2
`;
const CONSUME_AND_CLAIM_RESULTS: readonly ConsumeAndClaimResult[] = ['missing', 'claimed', 'already-claimed'];

/**
 * addToSet: a sorted set scored by each member's expiry (ms, the server's clock): ZADD GT (a
 * member added again keeps the later expiry), drop members past theirs, then make the key's TTL
 * at least ARGV[2] seconds (never shorter). PTTL is -1 for a key without a TTL, so such a set
 * gets one too. (EXPIRE ... GT alone would treat it as infinite.)
 *   KEYS[1]  the (prefixed) set key
 *   ARGV[1]  the member
 *   ARGV[2]  the TTL in seconds (a positive integer)
 */
const ADD_TO_SET_LUA = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], 'GT', now + ttl * 1000, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('PTTL', KEYS[1]) < ttl * 1000 then redis.call('EXPIRE', KEYS[1], ttl) end
return 1
`;

/**
 * pushCapped: LPUSH, LTRIM to the newest ARGV[2] entries, EXPIRE ARGV[3] seconds, atomically.
 * A script rather than MULTI: in MULTI a failing LPUSH (WRONGTYPE) would not stop the EXPIRE
 * after it from changing the other value's TTL; a script stops at the first error.
 *   KEYS[1]  the (prefixed) list key
 *   ARGV[1]  the value
 *   ARGV[2]  the cap (a positive integer)
 *   ARGV[3]  the TTL in seconds (a positive integer)
 */
const PUSH_CAPPED_LUA = `
redis.call('LPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[2]) - 1)
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
`;

const CONSUME_RESULTS: Record<number, ConsumeResult> = { 0: 'missing', 1: 'consumed', 2: 'already-consumed' };

export function createRedisStore(options: RedisStoreOptions): Store {
  const { redis, owned } = connection(options);
  const prefix = options.keyPrefix ?? 'broker:';
  if (prefix.includes('{')) throw new TypeError('keyPrefix must not contain "{" (Redis Cluster hash tags)');
  const k = (key: string): string => prefix + key;
  // Commands issued in the same tick (a record and its index, Promise.all of reads) leave in one
  // socket write: the connection is corked at the first and uncorked after the tick. ioredis
  // writes each command on its own; its autoPipelining does batch, but through a Pipeline object
  // per batch, which cost more than it saved in this broker's mostly one-command batches. Fewer
  // writes and packets, not less CPU: the login benchmark measured no CPU change
  // (docs/benchmarks.md); what counts is one round trip where there were several.
  let corked: Redis['stream'] | undefined;
  const send = (): Redis => {
    const stream = redis.stream as Redis['stream'] | undefined;
    if (stream !== undefined && stream !== corked && stream.writable) {
      stream.cork();
      corked = stream;
      process.nextTick(() => {
        corked = undefined;
        stream.uncork();
      });
    }
    return redis;
  };

  return unavailableAs503({
    get: (key) => send().get(k(key)),

    async set(key: string, value: string, options?: WriteOptions) {
      const ttlSeconds = ttlOf(options);
      if (ttlSeconds === undefined) await send().set(k(key), value);
      else await send().set(k(key), value, 'EX', ttlSeconds);
    },

    async setIfAbsent(key: string, value: string, options?: WriteOptions) {
      const ttlSeconds = ttlOf(options);
      const reply =
        ttlSeconds === undefined
          ? await send().set(k(key), value, 'NX')
          : await send().set(k(key), value, 'EX', ttlSeconds, 'NX');
      return reply === 'OK'; // null when the key existed
    },

    async compareAndSet(key: string, expected: string | null, value: string, options?: WriteOptions) {
      const ttlSeconds = ttlOf(options);
      const written = await runScript(send(), compareAndSetScript, [k(key)], [expected === null ? '0' : '1', expected ?? '', value, ttlSeconds === undefined ? '' : String(ttlSeconds)]);
      return written === 1;
    },

    take: (key) => send().getdel(k(key)),

    // DEL with no key is a Redis syntax error; deleting nothing is simply 0.
    delete: (...keys) => (keys.length === 0 ? Promise.resolve(0) : send().del(...keys.map(k))),

    async consumeJson(key: string, at: number) {
      assertConsumedAt(at);
      const code = await runScript(send(), consumeJsonScript, [k(key)], [String(at)]);
      const result = typeof code === 'number' ? CONSUME_RESULTS[code] : undefined;
      if (result === undefined) throw new Error(`consumeJson: unexpected script reply ${String(code)}`);
      return result;
    },

    async consumeAndClaim(takeKey, claimKey, ttlSeconds) {
      assertTtlSeconds(ttlSeconds);
      const code = await runScript(send(), consumeAndClaimScript, [k(takeKey), k(claimKey)], [String(ttlSeconds)]);
      const result = typeof code === 'number' ? CONSUME_AND_CLAIM_RESULTS[code] : undefined;
      if (result === undefined) throw new Error(`consumeAndClaim: unexpected script reply ${String(code)}`);
      return result;
    },

    async addToSet(key, member, ttlSeconds) {
      assertTtlSeconds(ttlSeconds);
      await runScript(send(), addToSetScript, [k(key)], [member, String(ttlSeconds)]);
    },

    // Either kind of set: a sorted one (addToSet's), or a plain one an earlier version wrote.
    members: async (key) => (await runScript(send(), membersScript, [k(key)], [])) as string[],

    async removeFromSet(key, ...members) {
      if (members.length > 0) await runScript(send(), removeFromSetScript, [k(key)], members);
    },

    async pushCapped(key, value, cap, ttlSeconds) {
      assertCount('cap', cap);
      assertTtlSeconds(ttlSeconds);
      await runScript(send(), pushCappedScript, [k(key)], [value, String(cap), String(ttlSeconds)]);
    },

    async listRange(key, count) {
      assertCount('count', count);
      return send().lrange(k(key), 0, count - 1);
    },

    ttl: (key) => send().ttl(k(key)),

    async ping() {
      await send().ping();
    },

    async close() {
      if (owned && redis.status !== 'end') await redis.quit();
    },
  });
}

/** `store` whose failures that mean "Redis cannot serve now" reject with StoreUnavailableError. */
function unavailableAs503(store: Store): Store {
  const rethrow = (error: unknown): never => {
    throw isRedisUnavailability(error) ? new StoreUnavailableError(error) : error;
  };
  const wrapped: Record<string, unknown> = {};
  for (const [name, operation] of Object.entries(store) as [string, (...args: unknown[]) => Promise<unknown>][]) {
    wrapped[name] = (...args: unknown[]) => operation(...args).catch(rethrow);
  }
  return wrapped as unknown as Store;
}

function connection(options: RedisStoreOptions): { redis: Redis; owned: boolean } {
  if ((options.url === undefined) === (options.redis === undefined)) {
    throw new TypeError('createRedisStore: pass exactly one of url and redis');
  }
  if (options.redis !== undefined) return { redis: options.redis, owned: false };
  const redis = new Redis(options.url ?? '', {
    commandTimeout: options.commandTimeoutMs ?? 2000,
    // Fail fast when Redis is down instead of queueing requests through many reconnects: callers
    // (and readiness probes) should see the error.
    maxRetriesPerRequest: 1,
  });
  redis.on('error', (error: Error) => options.onConnectionError?.(error));
  return { redis, owned: true };
}

interface Script {
  lua: string;
  sha1: string;
}

const script = (lua: string): Script => ({ lua, sha1: createHash('sha1').update(lua).digest('hex') });
const consumeJsonScript = script(CONSUME_JSON_LUA);
const consumeAndClaimScript = script(CONSUME_AND_CLAIM_LUA);
const compareAndSetScript = script(COMPARE_AND_SET_LUA);
const addToSetScript = script(ADD_TO_SET_LUA);
/**
 * members and removeFromSet, for a sorted set (addToSet's) or a plain set (an earlier version's).
 * Members are removed 1,000 at a time: unpack() of more overflows Lua's stack, and an old plain
 * set, never pruned, can hold many thousands.
 */
const membersScript = script(`
if redis.call('TYPE', KEYS[1]).ok == 'set' then return redis.call('SMEMBERS', KEYS[1]) end
return redis.call('ZRANGE', KEYS[1], 0, -1)
`);
const removeFromSetScript = script(`
local command = redis.call('TYPE', KEYS[1]).ok == 'set' and 'SREM' or 'ZREM'
local removed = 0
for i = 1, #ARGV, 1000 do
  removed = removed + redis.call(command, KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
return removed
`);
const pushCappedScript = script(PUSH_CAPPED_LUA);

/** EVALSHA, falling back to EVAL (which also caches the script) when the server lacks it. */
async function runScript(redis: Redis, s: Script, keys: string[], args: string[]): Promise<unknown> {
  try {
    return await redis.evalsha(s.sha1, keys.length, ...keys, ...args);
  } catch (error) {
    if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
    return redis.eval(s.lua, keys.length, ...keys, ...args);
  }
}
