export type { Store, WriteOptions, ConsumeResult, ConsumeAndClaimResult } from './store.ts';
export { keys } from './keys.ts';
export { createMemoryStore } from './memory-store.ts';
export type { MemoryStoreOptions } from './memory-store.ts';
export { createRedisStore } from './redis-store.ts';
export type { RedisStoreOptions } from './redis-store.ts';
export { StoreUnavailableError } from './errors.ts';
export { deleteKeysUnder, scanKeys } from './scan.ts';
