import type { ConsumeAndClaimResult, ConsumeResult, Store, WriteOptions } from './store.ts';
import { WRONGTYPE_MESSAGE, assertConsumedAt, assertCount, assertTtlSeconds, ttlOf } from './validation.ts';

/**
 * The in-memory twin of the Redis store, used in all-in-one mode and in tests. It follows the
 * Redis semantics of every `Store` method (see store.ts), including WRONGTYPE errors when a
 * string, set or list command meets a value of another type. Single process only: nothing is shared or persisted.
 */
export interface MemoryStoreOptions {
  /** Clock in epoch milliseconds; injectable so tests can move time. Default `Date.now`. */
  now?: () => number;
}

/** How often expired entries nobody reads again are dropped (reads also expire lazily). */
const SWEEP_INTERVAL_MS = 60_000;

type Entry =
  | { kind: 'string'; value: string; expiresAt: number | null }
  /** Each member with its own expiry (ms), as the Redis sorted set is scored. */
  | { kind: 'set'; members: Map<string, number>; expiresAt: number | null }
  /** Newest first, as a Redis list filled with LPUSH. */
  | { kind: 'list'; items: string[]; expiresAt: number | null };

export function createMemoryStore(options: MemoryStoreOptions = {}): Store {
  const now = options.now ?? Date.now;
  const entries = new Map<string, Entry>();

  const expired = (entry: Entry, at: number): boolean => entry.expiresAt !== null && entry.expiresAt <= at;

  /** The live entry at `key`, dropping it first when it has expired. */
  const live = (key: string): Entry | undefined => {
    const entry = entries.get(key);
    if (entry !== undefined && expired(entry, now())) {
      entries.delete(key);
      return undefined;
    }
    return entry;
  };

  const liveString = (key: string): (Entry & { kind: 'string' }) | undefined => {
    const entry = live(key);
    if (entry !== undefined && entry.kind !== 'string') throw new Error(WRONGTYPE_MESSAGE);
    return entry;
  };

  const expiresAt = (ttlSeconds: number | undefined): number | null =>
    ttlSeconds === undefined ? null : now() + ttlSeconds * 1000;

  const sweep = (): void => {
    const at = now();
    for (const [key, entry] of entries) if (expired(entry, at)) entries.delete(key);
  };
  // unref: the sweep must never keep a process (or a test worker) alive on its own.
  let sweepTimer: NodeJS.Timeout | undefined = setInterval(sweep, SWEEP_INTERVAL_MS).unref();

  // Every method runs through `promised`, so a validation error becomes a rejection (as with
  // Redis) rather than a synchronous throw.
  return {
    get: (key) => promised(() => liveString(key)?.value ?? null),

    set: (key: string, value: string, options?: WriteOptions) =>
      promised(() => {
        const ttlSeconds = ttlOf(options);
        // Like Redis SET: replaces any value (of any type) and its TTL.
        entries.set(key, { kind: 'string', value, expiresAt: expiresAt(ttlSeconds) });
      }),

    setIfAbsent: (key: string, value: string, options?: WriteOptions) =>
      promised(() => {
        const ttlSeconds = ttlOf(options);
        if (live(key) !== undefined) return false;
        entries.set(key, { kind: 'string', value, expiresAt: expiresAt(ttlSeconds) });
        return true;
      }),

    compareAndSet: (key: string, expected: string | null, value: string, options?: WriteOptions) =>
      promised(() => {
        const ttlSeconds = ttlOf(options);
        const current = live(key);
        if (expected === null ? current !== undefined : liveString(key)?.value !== expected) return false;
        entries.set(key, { kind: 'string', value, expiresAt: expiresAt(ttlSeconds) });
        return true;
      }),

    take: (key) =>
      promised(() => {
        const entry = liveString(key);
        if (entry === undefined) return null;
        entries.delete(key);
        return entry.value;
      }),

    delete: (...keys) =>
      promised(() => {
        let count = 0;
        for (const key of keys) if (live(key) !== undefined && entries.delete(key)) count += 1;
        return count;
      }),

    consumeJson: (key: string, at: number) =>
      promised((): ConsumeResult => {
        assertConsumedAt(at);
        const entry = liveString(key);
        if (entry === undefined) return 'missing';
        const doc = parseObject(entry.value);
        // A JSON null counts as "not consumed", as in the Redis script.
        if (doc.consumed !== undefined && doc.consumed !== null) return 'already-consumed';
        doc.consumed = at;
        entry.value = JSON.stringify(doc); // same entry object, so expiresAt (the TTL) is kept
        return 'consumed';
      }),

    consumeAndClaim: (takeKey, claimKey, ttlSeconds) =>
      promised((): ConsumeAndClaimResult => {
        assertTtlSeconds(ttlSeconds);
        if (liveString(takeKey) === undefined) return 'missing';
        entries.delete(takeKey);
        if (live(claimKey) !== undefined) return 'already-claimed';
        entries.set(claimKey, { kind: 'string', value: '1', expiresAt: expiresAt(ttlSeconds) });
        return 'claimed';
      }),

    addToSet: (key, member, ttlSeconds) =>
      promised(() => {
        assertTtlSeconds(ttlSeconds);
        const at = now();
        const wanted = at + ttlSeconds * 1000;
        const entry = live(key);
        if (entry === undefined) {
          entries.set(key, { kind: 'set', members: new Map([[member, wanted]]), expiresAt: wanted });
          return;
        }
        if (entry.kind !== 'set') throw new Error(WRONGTYPE_MESSAGE);
        entry.members.set(member, Math.max(entry.members.get(member) ?? 0, wanted));
        for (const [name, until] of entry.members) if (until <= at) entry.members.delete(name);
        // The TTL only grows; a set without one gets one (as the Redis script does).
        if (entry.expiresAt === null || entry.expiresAt < wanted) entry.expiresAt = wanted;
      }),

    members: (key) =>
      promised(() => {
        const entry = live(key);
        if (entry === undefined) return [];
        if (entry.kind !== 'set') throw new Error(WRONGTYPE_MESSAGE);
        return [...entry.members.keys()]; // a copy: callers must not reach into the store
      }),

    removeFromSet: (key, ...members) =>
      promised(() => {
        const entry = live(key);
        if (entry === undefined) return;
        if (entry.kind !== 'set') throw new Error(WRONGTYPE_MESSAGE);
        for (const member of members) entry.members.delete(member);
      }),

    pushCapped: (key, value, cap, ttlSeconds) =>
      promised(() => {
        assertCount('cap', cap);
        assertTtlSeconds(ttlSeconds);
        const entry = live(key);
        if (entry !== undefined && entry.kind !== 'list') throw new Error(WRONGTYPE_MESSAGE);
        const items = [value, ...(entry?.items ?? [])].slice(0, cap);
        // LPUSH + LTRIM + EXPIRE: the TTL is renewed by every push.
        entries.set(key, { kind: 'list', items, expiresAt: expiresAt(ttlSeconds) });
      }),

    listRange: (key, count) =>
      promised(() => {
        assertCount('count', count);
        const entry = live(key);
        if (entry === undefined) return [];
        if (entry.kind !== 'list') throw new Error(WRONGTYPE_MESSAGE);
        return entry.items.slice(0, count); // a copy, newest first
      }),

    ttl: (key) =>
      promised(() => {
        const entry = live(key);
        if (entry === undefined) return -2;
        if (entry.expiresAt === null) return -1;
        // Rounded up, so a live key never reports 0 (Redis rounds to the nearest second).
        return Math.ceil((entry.expiresAt - now()) / 1000);
      }),

    ping: () => Promise.resolve(),

    close: () => {
      clearInterval(sweepTimer);
      sweepTimer = undefined;
      return Promise.resolve();
    },
  };
}

/** Run synchronous store logic as a promise: a throw inside the executor rejects it. */
function promised<T>(fn: () => T): Promise<T> {
  return new Promise<T>((resolve) => resolve(fn()));
}

/** Parse a stored value that must be a JSON object (not an array, null or a scalar). */
function parseObject(raw: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = JSON.parse(raw);
  } catch {
    throw new Error('store: value is not a JSON object');
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new Error('store: value is not a JSON object');
  }
  return doc as Record<string, unknown>;
}
