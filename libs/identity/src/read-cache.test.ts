import { afterEach, describe, expect, it, vi } from 'vitest';
import { createReadCache } from './read-cache.ts';

/** A clock the test moves by hand. */
function manualClock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

/** A loader that counts its calls and returns the current value of a cell. */
function source(initial: string | null) {
  const cell = { value: initial, loads: 0 };
  const load = (): Promise<string | null> => {
    cell.loads += 1;
    return Promise.resolve(cell.value);
  };
  return { cell, load };
}

describe('read cache', () => {
  it('reuses a value until ttlMs after the read started, then reads again', async () => {
    const clock = manualClock();
    const cache = createReadCache({ ttlMs: 5_000, now: clock.now });
    const { cell, load } = source('v1');
    expect(await cache.read('k', load)).toBe('v1');
    cell.value = 'v2';
    clock.advance(4_999);
    expect(await cache.read('k', load)).toBe('v1');
    expect(cell.loads).toBe(1);
    clock.advance(1);
    expect(await cache.read('k', load)).toBe('v2');
    expect(cell.loads).toBe(2);
  });

  it('caches absent keys (null) the same way', async () => {
    const clock = manualClock();
    const cache = createReadCache({ ttlMs: 1_000, now: clock.now });
    const { cell, load } = source(null);
    expect(await cache.read('k', load)).toBeNull();
    expect(await cache.read('k', load)).toBeNull();
    expect(cell.loads).toBe(1);
  });

  it('forgets everything on clear()', async () => {
    const cache = createReadCache({ ttlMs: 60_000 });
    const { cell, load } = source('v1');
    await cache.read('k', load);
    cell.value = 'v2';
    cache.clear();
    expect(cache.size).toBe(0);
    expect(await cache.read('k', load)).toBe('v2');
  });

  it('does not cache a read that was in flight when clear() ran', async () => {
    const cache = createReadCache({ ttlMs: 60_000 });
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    // The read gets the old value from the store, then a write and clear() happen before it returns.
    const inFlight = cache.read('k', async () => {
      await gate;
      return 'old';
    });
    cache.clear();
    release();
    expect(await inFlight).toBe('old'); // its own caller gets what the store said then
    expect(cache.size).toBe(0);
    expect(await cache.read('k', () => Promise.resolve('new'))).toBe('new');
  });

  it('does not cache a failed read', async () => {
    const cache = createReadCache({ ttlMs: 60_000 });
    await expect(cache.read('k', () => Promise.reject(new Error('store down')))).rejects.toThrow('store down');
    expect(cache.size).toBe(0);
    expect(await cache.read('k', () => Promise.resolve('v'))).toBe('v');
  });

  it('with ttlMs 0 reads the store every time and holds nothing', async () => {
    const cache = createReadCache({ ttlMs: 0 });
    const { cell, load } = source('v');
    await cache.read('k', load);
    await cache.read('k', load);
    expect(cell.loads).toBe(2);
    expect(cache.size).toBe(0);
  });

  it('holds at most maxEntries, dropping the oldest first', async () => {
    const cache = createReadCache({ ttlMs: 60_000, maxEntries: 3 });
    const loads: string[] = [];
    const read = (key: string) =>
      cache.read(key, () => {
        loads.push(key);
        return Promise.resolve(key);
      });
    for (const key of ['a', 'b', 'c', 'd']) await read(key);
    expect(cache.size).toBe(3);
    await read('d');
    await read('b');
    expect(loads).toEqual(['a', 'b', 'c', 'd']); // b and d still cached
    await read('a'); // a was dropped for d
    expect(loads).toEqual(['a', 'b', 'c', 'd', 'a']);
    expect(cache.size).toBe(3);
  });

  it('never caches a key longer than maxKeyLength (keys come from requests: memory stays bounded)', async () => {
    const clock = manualClock();
    const cache = createReadCache({ ttlMs: 5_000, now: clock.now, maxKeyLength: 16 });
    const { cell, load } = source(null);
    const long = `origin:${'x'.repeat(100)}`;
    expect(await cache.read(long, load)).toBeNull();
    expect(await cache.read(long, load)).toBeNull();
    expect(cell.loads).toBe(2);
    expect(cache.size).toBe(0);
    expect(await cache.read('short', load)).toBeNull();
    expect(cache.size).toBe(1);
  });

  it('when full, drops the expired entries before the oldest live one', async () => {
    const clock = manualClock();
    const cache = createReadCache({ ttlMs: 1_000, now: clock.now, maxEntries: 3 });
    const { load } = source('v');
    await cache.read('a', load);
    await cache.read('b', load);
    clock.advance(600);
    await cache.read('c', load);
    clock.advance(500); // a and b have expired, c has not
    await cache.read('d', load);
    expect(cache.size).toBe(2);
    const counted = source('v');
    await cache.read('c', counted.load);
    expect(counted.cell.loads).toBe(0); // c survived
  });

  describe('with the default clock', () => {
    afterEach(() => {
      vi.useRealTimers();
    });

    it('expires on a monotonic clock: a wall-clock step backwards does not stretch the TTL', async () => {
      vi.useFakeTimers({ toFake: ['Date', 'performance'] });
      const cache = createReadCache({ ttlMs: 5_000 });
      const { cell, load } = source('v1');
      expect(await cache.read('k', load)).toBe('v1');
      cell.value = 'v2';
      vi.setSystemTime(Date.now() - 3_600_000); // an NTP correction: Date goes back an hour
      vi.advanceTimersByTime(5_000);
      expect(await cache.read('k', load)).toBe('v2');
    });
  });

  it('refuses a negative or non-finite ttlMs and a bad maxEntries', () => {
    expect(() => createReadCache({ ttlMs: -1 })).toThrow(RangeError);
    expect(() => createReadCache({ ttlMs: Number.NaN })).toThrow(RangeError);
    expect(() => createReadCache({ ttlMs: 1, maxEntries: 0 })).toThrow(RangeError);
  });
});
