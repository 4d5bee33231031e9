import { afterEach, describe, expect, it, vi } from 'vitest';
import { createMemoryStore } from './memory-store.ts';
import { describeStoreContract } from './store.contract.ts';

describeStoreContract('memory', () => {
  const store = createMemoryStore();
  return Promise.resolve({ store, cleanup: () => store.close() });
});

describe('memory store specifics', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('expires by the injected clock and rounds ttl up to whole seconds', async () => {
    let now = 1_000_000;
    const store = createMemoryStore({ now: () => now });
    await store.set('k', 'v', { ttlSeconds: 10 });
    now += 100;
    expect(await store.ttl('k')).toBe(10); // 9.9 s left
    now += 8_901;
    expect(await store.ttl('k')).toBe(1); // 0.999 s left: still alive, never 0
    expect(await store.get('k')).toBe('v');
    now += 999;
    expect(await store.ttl('k')).toBe(-2);
    expect(await store.get('k')).toBeNull();
    await store.close();
  });

  it('runs an unref-ed sweep timer that close() clears', async () => {
    vi.useFakeTimers();
    const store = createMemoryStore();
    expect(vi.getTimerCount()).toBe(1);
    await store.close();
    expect(vi.getTimerCount()).toBe(0);
    await store.close(); // idempotent
  });

  it('expires a capped list by the injected clock and returns copies of its entries', async () => {
    let now = 1_000_000;
    const store = createMemoryStore({ now: () => now });
    await store.pushCapped('l', 'a', 2, 10);
    const entries = await store.listRange('l', 2);
    entries.push('intruder');
    expect(await store.listRange('l', 5)).toEqual(['a']);
    now += 9_000;
    await store.pushCapped('l', 'b', 2, 10); // renews: 10 s from now again
    now += 9_000;
    expect(await store.listRange('l', 5)).toEqual(['b', 'a']);
    now += 1_000;
    expect(await store.listRange('l', 5)).toEqual([]);
    await store.close();
  });

  it('returns copies of set members', async () => {
    const store = createMemoryStore();
    await store.addToSet('s', 'a', 30);
    const members = await store.members('s');
    members.push('intruder');
    expect(await store.members('s')).toEqual(['a']);
    await store.close();
  });
});
