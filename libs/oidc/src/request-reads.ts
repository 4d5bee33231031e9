import Provider from 'oidc-provider';
import type { Store } from '@broker/store';

/** A store whose reads can be started ahead, for the oidc-provider request under way. */
export interface PrefetchingStore extends Store {
  /**
   * Start reading `keys` now, for the current oidc-provider request (nothing outside one): the
   * request's next `get` of each key takes the value read here instead of reading again. Reads
   * started in one tick leave in one socket write (the Redis store batches a tick's commands), so
   * reads that oidc-provider would make one after another cost one round trip.
   */
  prefetch(keys: readonly string[]): void;
}

/** The oidc-provider request under way (its koa context, from Provider.ctx), if any. */
export const currentRequest = (): object | undefined => (Provider as unknown as { ctx?: object }).ctx;

/**
 * `store` with request-scoped prefetching. A prefetched value is used at most once, and only by
 * the request that asked for it; a write through this store to a key (set, delete, take, any
 * script) drops that key's prefetched value first, so a request never reads back something older
 * than its own write. Against other writers a prefetched value is as fresh as a read made a few
 * milliseconds earlier, which is all a read ever promises.
 */
export function createPrefetchingStore(store: Store): PrefetchingStore {
  const byRequest = new WeakMap<object, Map<string, Promise<string | null>>>();
  const forget = (...keys: string[]): void => {
    const ctx = currentRequest();
    const reads = ctx === undefined ? undefined : byRequest.get(ctx);
    if (reads) for (const key of keys) reads.delete(key);
  };
  return {
    ...store,
    prefetch(keys) {
      const ctx = currentRequest();
      if (ctx === undefined || keys.length === 0) return;
      let reads = byRequest.get(ctx);
      if (!reads) {
        reads = new Map();
        byRequest.set(ctx, reads);
      }
      for (const key of keys) {
        if (reads.has(key)) continue;
        const reading = store.get(key);
        // A failed prefetch is reported to the get that takes it; unused, it must not be unhandled.
        reading.catch(() => undefined);
        reads.set(key, reading);
      }
    },
    get(key) {
      const ctx = currentRequest();
      const reads = ctx === undefined ? undefined : byRequest.get(ctx);
      const prefetched = reads?.get(key);
      if (prefetched === undefined) return store.get(key);
      reads?.delete(key);
      return prefetched;
    },
    set: (key, value, options) => (forget(key), store.set(key, value, options)),
    setIfAbsent: (key, value, options) => (forget(key), store.setIfAbsent(key, value, options)),
    compareAndSet: (key, expected, value, options) => (forget(key), store.compareAndSet(key, expected, value, options)),
    take: (key) => (forget(key), store.take(key)),
    delete: (...keys) => (forget(...keys), store.delete(...keys)),
    consumeJson: (key, at) => (forget(key), store.consumeJson(key, at)),
    consumeAndClaim: (takeKey, claimKey, ttlSeconds) => (forget(takeKey, claimKey), store.consumeAndClaim(takeKey, claimKey, ttlSeconds)),
    addToSet: (key, member, ttlSeconds) => (forget(key), store.addToSet(key, member, ttlSeconds)),
    removeFromSet: (key, ...members) => (forget(key), store.removeFromSet(key, ...members)),
    pushCapped: (key, value, cap, ttlSeconds) => (forget(key), store.pushCapped(key, value, cap, ttlSeconds)),
  };
}
