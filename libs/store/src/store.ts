/**
 * The storage port. Everything the broker keeps (RelayState, login results, oidc-provider models,
 * tenants and users) goes through this interface, so the same code runs on Redis in production and
 * on the in-memory twin in all-in-one mode. Both implementations pass one contract suite
 * (`store.contract.ts`).
 *
 * Keys passed in are logical keys built by `keys.ts`; an implementation may add its own prefix.
 * Values are strings (JSON is the callers' business) except sets and capped lists.
 */
export interface Store {
  /** The value, or null when absent or expired. */
  get(key: string): Promise<string | null>;
  /**
   * Write a value. `ttlSeconds` (a positive integer) makes it expire; without it the value is
   * durable. Ephemeral writes must always pass a TTL.
   */
  set(key: string, value: string, options?: WriteOptions): Promise<void>;
  /** Write only if the key does not exist (SET NX). True when this call wrote it. */
  setIfAbsent(key: string, value: string, options?: WriteOptions): Promise<boolean>;
  /**
   * Write `value` only if the key still holds `expected` (null: the key is absent), in one atomic
   * step; true when this call wrote it. For read-modify-write of a record by concurrent writers:
   * read, compute, compareAndSet with what was read, and start again when it returns false.
   */
  compareAndSet(key: string, expected: string | null, value: string, options?: WriteOptions): Promise<boolean>;
  /**
   * Read and delete in one atomic step (GETDEL). Of several concurrent callers at most one gets
   * the value; the others get null. This is how single-use values are consumed.
   */
  take(key: string): Promise<string | null>;
  /** Delete keys; resolves to how many existed. */
  delete(...keys: string[]): Promise<number>;
  /**
   * Atomically mark the JSON object stored at `key` as consumed by setting its `consumed` field
   * to `at` (epoch seconds), keeping the remaining TTL. Of several concurrent callers exactly one
   * gets 'consumed'; the others get 'already-consumed'. 'missing' when the key does not exist.
   */
  consumeJson(key: string, at: number): Promise<ConsumeResult>;
  /**
   * In one atomic step: take `takeKey` (GETDEL); if it was there, claim `claimKey` (SET NX with
   * `ttlSeconds`). 'missing': `takeKey` was absent and nothing changed. 'already-claimed':
   * `takeKey` was taken but `claimKey` existed. 'claimed': both done. On Redis Cluster the two
   * keys must share a hash tag. (The ACS uses it to consume an AuthnRequest ID and claim the
   * assertion ID in one round trip.)
   */
  consumeAndClaim(takeKey: string, claimKey: string, ttlSeconds: number): Promise<ConsumeAndClaimResult>;
  /**
   * Add a member to a set for `ttlSeconds` (a positive integer): each member has its own expiry
   * (the later one when added again), members past theirs are dropped at every add, and the
   * set's TTL becomes at least `ttlSeconds`. So an index that gains a member per session or per
   * token holds about as many members as are alive, however long it lives.
   */
  addToSet(key: string, member: string, ttlSeconds: number): Promise<void>;
  /** The members of a set (empty when absent); one whose expiry passed since the last add may still be listed. */
  members(key: string): Promise<string[]>;
  /** Remove these members from a set (a member that is not there is no error). */
  removeFromSet(key: string, ...members: string[]): Promise<void>;
  /**
   * Put `value` at the head of the list at `key`, keep only its `cap` newest entries and make it
   * expire `ttlSeconds` from now (LPUSH + LTRIM + EXPIRE, in one atomic step). Every push renews
   * the TTL. `cap` and `ttlSeconds` are positive integers. Rejects (WRONGTYPE) when `key` holds
   * a value of another type, changing nothing.
   */
  pushCapped(key: string, value: string, cap: number, ttlSeconds: number): Promise<void>;
  /** Up to `count` (a positive integer) entries of a list, newest first (empty when absent). */
  listRange(key: string, count: number): Promise<string[]>;
  /** Remaining time to live in seconds: -1 when durable, -2 when absent (as Redis TTL). */
  ttl(key: string): Promise<number>;
  /** Resolves when the store answers; rejects otherwise. Used by readiness probes. */
  ping(): Promise<void>;
  /** Release connections and timers. */
  close(): Promise<void>;
}

export interface WriteOptions {
  /** Seconds until the value expires. Omit for a durable value. */
  ttlSeconds?: number;
}

export type ConsumeResult = 'consumed' | 'already-consumed' | 'missing';

export type ConsumeAndClaimResult = 'claimed' | 'already-claimed' | 'missing';
