export type { Store, WriteOptions, ConsumeResult } from './store.ts';
export { keys } from './keys.ts';
