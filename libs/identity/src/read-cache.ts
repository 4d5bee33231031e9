/**
 * A small in-process cache for reads of durable, rarely written store records (tenants,
 * connections, clients), so that one login does not read the same record from the store several
 * times. Values are what the store returned (the raw string, or null for an absent key), so every
 * caller still gets its own parsed copy and cannot change what the next one reads.
 *
 * - An entry lives `ttlMs` from the moment its read started; then the next read goes to the store.
 * - `clear()` forgets everything. Writers call it after their store write completed, so a read in
 *   this process after the write never returns the old value: reads still in flight when `clear()`
 *   ran return their value to their caller but do not enter the cache.
 * - Other processes' writes are seen after at most `ttlMs`.
 * - Bounded memory whatever callers look up (keys often come from requests: an Origin header, a
 *   typed email domain, a client_id): at most `maxEntries` entries; a key longer than
 *   `maxKeyLength` is never cached (it is read from the store every time); when the cache is full,
 *   expired entries go first, then the oldest.
 * - Expiry runs on a monotonic clock: a wall-clock step backwards cannot stretch it.
 * - `ttlMs` 0 turns caching off: every read goes to the store.
 */
export interface ReadCacheOptions {
  ttlMs: number;
  /** Default 10 000. */
  maxEntries?: number;
  /** Longest key (in UTF-16 units) that is cached; longer keys always go to the store. Default 512. */
  maxKeyLength?: number;
  /** The clock, in ms (tests). Default performance.now (monotonic). */
  now?: () => number;
}

export interface ReadCache {
  /** The cached value of `key`, or `load()`'s (cached for `ttlMs`). A rejected load is not cached. */
  read(key: string, load: () => Promise<string | null>): Promise<string | null>;
  /** Forget every entry (after a write through this process). */
  clear(): void;
  /** How many entries are held (tests). */
  readonly size: number;
}

export const DEFAULT_READ_CACHE_MAX_ENTRIES = 10_000;
export const DEFAULT_READ_CACHE_MAX_KEY_LENGTH = 512;

export function createReadCache(options: ReadCacheOptions): ReadCache {
  const { ttlMs } = options;
  if (!Number.isFinite(ttlMs) || ttlMs < 0) throw new RangeError(`ttlMs must be a number >= 0, got ${ttlMs}`);
  const maxEntries = options.maxEntries ?? DEFAULT_READ_CACHE_MAX_ENTRIES;
  if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError(`maxEntries must be a positive integer, got ${maxEntries}`);
  const maxKeyLength = options.maxKeyLength ?? DEFAULT_READ_CACHE_MAX_KEY_LENGTH;
  const now = options.now ?? (() => performance.now());
  const entries = new Map<string, { value: string | null; expiresAt: number }>();
  /** Bumped by clear(): a read that started in an older generation does not enter the cache. */
  let generation = 0;

  return {
    async read(key, load) {
      if (ttlMs === 0 || key.length > maxKeyLength) return load();
      const startedAt = now();
      const entry = entries.get(key);
      if (entry !== undefined) {
        if (entry.expiresAt > startedAt) return entry.value;
        entries.delete(key);
      }
      const startedIn = generation;
      const value = await load();
      if (startedIn === generation) {
        entries.delete(key); // a concurrent read may have put it there: re-insert as the newest
        if (entries.size >= maxEntries) {
          // Expired entries first (a burst of lookups leaves nothing behind once it is over). They
          // sit at the front: entries are kept in insertion order and all live `ttlMs`.
          const at = now();
          for (const [k, e] of entries) {
            if (e.expiresAt > at) break;
            entries.delete(k);
          }
          // ...then the oldest.
          if (entries.size >= maxEntries) {
            const oldest = entries.keys().next();
            if (!oldest.done) entries.delete(oldest.value);
          }
        }
        entries.set(key, { value, expiresAt: startedAt + ttlMs });
      }
      return value;
    },
    clear() {
      generation += 1;
      entries.clear();
    },
    get size() {
      return entries.size;
    },
  };
}
