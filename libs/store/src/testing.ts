// Test-only entry point (`@broker/store/testing`): the storage contract suite and the Redis
// test policy, kept out of the main entry so production code never loads vitest.
export { describeStoreContract } from './store.contract.ts';
export type { MakeStore } from './store.contract.ts';
import * as redisTestSupport from './redis-test-support.ts';
export { redisTestSupport };
export type { OpenStore } from './redis-test-support.ts';
