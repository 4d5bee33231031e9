/**
 * The behaviour every `Store` implementation must share (test-only). Run it from a `*.test.ts`
 * file: `describeStoreContract('memory', async () => ({ store, cleanup }))`. One store serves the
 * whole suite; each test uses its own keys.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from './store.ts';

export type MakeStore = () => Promise<{ store: Store; cleanup: () => Promise<void> }>;

/** Bad TTLs (Redis EX rejects each of them, so every implementation must too), and bad list caps and counts. */
const INVALID_TTLS = [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY];

export function describeStoreContract(name: string, makeStore: MakeStore): void {
  describe(`Store contract: ${name}`, () => {
    let store: Store;
    let cleanup: () => Promise<void> = () => Promise.resolve();
    const key = (label: string): string => `contract:${label}:${randomUUID()}`;

    beforeAll(async () => {
      ({ store, cleanup } = await makeStore());
    });
    afterAll(() => cleanup());

    it('answers ping', async () => {
      await expect(store.ping()).resolves.toBeUndefined();
    });

    it('round-trips set/get and overwrites', async () => {
      const k = key('rt');
      expect(await store.get(k)).toBeNull();
      await store.set(k, 'one');
      expect(await store.get(k)).toBe('one');
      await store.set(k, '{"ü":"✓"}');
      expect(await store.get(k)).toBe('{"ü":"✓"}');
    });

    it('reports ttl -2 when absent, -1 when durable, the seconds left otherwise', async () => {
      const k = key('ttl');
      expect(await store.ttl(k)).toBe(-2);
      await store.set(k, 'v');
      expect(await store.ttl(k)).toBe(-1);
      await store.set(k, 'v', { ttlSeconds: 60 });
      expect(await store.ttl(k)).toBeGreaterThanOrEqual(59);
      expect(await store.ttl(k)).toBeLessThanOrEqual(60);
      await store.set(k, 'v'); // a plain set makes it durable again, as Redis SET does
      expect(await store.ttl(k)).toBe(-1);
    });

    it('expires TTL values and sets while durable ones stay', async () => {
      const [str, nx, set, json, durable, list] = ['str', 'nx', 'set', 'json', 'durable', 'list'].map(key) as [
        string, string, string, string, string, string,
      ];
      await store.set(str, 'v', { ttlSeconds: 1 });
      expect(await store.setIfAbsent(nx, 'first', { ttlSeconds: 1 })).toBe(true);
      await store.addToSet(set, 'm', 1);
      await store.pushCapped(list, 'entry', 5, 1);
      await store.set(json, '{"a":1}', { ttlSeconds: 1 });
      await store.set(durable, 'stays');
      expect(await store.get(str)).toBe('v');

      await sleep(1_200);

      expect(await store.get(str)).toBeNull();
      expect(await store.ttl(str)).toBe(-2);
      expect(await store.members(set)).toEqual([]);
      expect(await store.listRange(list, 5)).toEqual([]);
      expect(await store.ttl(list)).toBe(-2);
      expect(await store.consumeJson(json, 1)).toBe('missing');
      expect(await store.take(str)).toBeNull();
      expect(await store.setIfAbsent(nx, 'second')).toBe(true); // expired counts as absent
      expect(await store.get(nx)).toBe('second');
      expect(await store.get(durable)).toBe('stays');
    });

    it('compareAndSet writes only over the expected value (null: absent), with its TTL', async () => {
      const k = key('cas');
      expect(await store.compareAndSet(k, 'nothing yet', 'v1')).toBe(false);
      expect(await store.get(k)).toBeNull();
      expect(await store.compareAndSet(k, null, 'v1')).toBe(true);
      expect(await store.compareAndSet(k, null, 'v2')).toBe(false);
      expect(await store.compareAndSet(k, 'v0', 'v2')).toBe(false);
      expect(await store.get(k)).toBe('v1');
      expect(await store.ttl(k)).toBe(-1);
      expect(await store.compareAndSet(k, 'v1', 'v2', { ttlSeconds: 30 })).toBe(true);
      expect(await store.get(k)).toBe('v2');
      expect(await store.ttl(k)).toBeGreaterThan(0);
      await expect(store.compareAndSet(k, 'v2', 'v3', { ttlSeconds: 0 })).rejects.toThrow(TypeError);
    });

    it('compareAndSet: of 20 concurrent writers over the same value exactly one wins', async () => {
      const k = key('cas-race');
      await store.set(k, 'base');
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => store.compareAndSet(k, 'base', `w${i}`)));
      expect(results.filter(Boolean)).toHaveLength(1);
      expect(await store.get(k)).toBe(`w${results.indexOf(true)}`);
    });

    it('setIfAbsent writes only the first time', async () => {
      const k = key('nx');
      expect(await store.setIfAbsent(k, 'first', { ttlSeconds: 30 })).toBe(true);
      expect(await store.setIfAbsent(k, 'second')).toBe(false);
      expect(await store.get(k)).toBe('first');
      expect(await store.ttl(k)).toBeGreaterThan(0); // the losing call did not touch the TTL
      const durable = key('nx-durable');
      expect(await store.setIfAbsent(durable, 'v')).toBe(true);
      expect(await store.ttl(durable)).toBe(-1);
    });

    it('take returns the value once, then null', async () => {
      const k = key('take');
      expect(await store.take(k)).toBeNull();
      await store.set(k, 'once', { ttlSeconds: 30 });
      expect(await store.take(k)).toBe('once');
      expect(await store.take(k)).toBeNull();
      expect(await store.ttl(k)).toBe(-2);
    });

    it('gives a value to exactly one of 20 concurrent takers', async () => {
      const k = key('take-race');
      await store.set(k, 'prize', { ttlSeconds: 30 });
      const results = await Promise.all(Array.from({ length: 20 }, () => store.take(k)));
      expect(results.filter((r) => r !== null)).toEqual(['prize']);
    });

    it('consumeAndClaim: missing changes nothing; claimed takes and claims with a TTL; a second claim of the same key is refused', async () => {
      const tag = randomUUID();
      const request = `contract:{${tag}}:req`;
      const claim = `contract:{${tag}}:seen`;
      expect(await store.consumeAndClaim(request, claim, 60)).toBe('missing');
      expect(await store.ttl(claim)).toBe(-2);

      await store.set(request, 'r', { ttlSeconds: 60 });
      expect(await store.consumeAndClaim(request, claim, 60)).toBe('claimed');
      expect(await store.get(request)).toBeNull();
      expect(await store.ttl(claim)).toBeGreaterThan(0);

      await store.set(request, 'r2', { ttlSeconds: 60 });
      expect(await store.consumeAndClaim(request, claim, 60)).toBe('already-claimed');
      expect(await store.get(request)).toBeNull(); // taken all the same
      await expect(store.consumeAndClaim(request, claim, 0)).rejects.toThrow();
    });

    it('consumeAndClaim: of 20 concurrent callers exactly one claims', async () => {
      const tag = randomUUID();
      const request = `contract:{${tag}}:req-race`;
      await store.set(request, 'r', { ttlSeconds: 60 });
      const results = await Promise.all(Array.from({ length: 20 }, () => store.consumeAndClaim(request, `contract:{${tag}}:seen-race`, 60)));
      expect(results.filter((r) => r === 'claimed')).toHaveLength(1);
      expect(results.filter((r) => r === 'missing')).toHaveLength(19);
    });

    it('consumeJson: missing, consumed, then already-consumed', async () => {
      const k = key('consume');
      expect(await store.consumeJson(k, 1_700_000_000)).toBe('missing');
      const doc = { id: 'x', scope: [], nested: { n: 1.25, big: 1_700_000_000_123 }, s: 'é"}' };
      await store.set(k, JSON.stringify(doc), { ttlSeconds: 60 });

      expect(await store.consumeJson(k, 1_700_000_000)).toBe('consumed');
      const afterFirst = await store.get(k);
      expect(JSON.parse(afterFirst ?? 'null')).toEqual({ ...doc, consumed: 1_700_000_000 });

      expect(await store.consumeJson(k, 1_800_000_000)).toBe('already-consumed');
      expect(await store.get(k)).toBe(afterFirst); // the loser changed nothing
    });

    it('consumeJson treats consumed: null as not consumed and handles {}', async () => {
      const k = key('consume-null');
      await store.set(k, '{"consumed":null,"a":1}');
      expect(await store.consumeJson(k, 5)).toBe('consumed');
      expect(JSON.parse((await store.get(k)) ?? 'null')).toEqual({ a: 1, consumed: 5 });
      const empty = key('consume-empty');
      await store.set(empty, '{}');
      expect(await store.consumeJson(empty, 6)).toBe('consumed');
      expect(JSON.parse((await store.get(empty)) ?? 'null')).toEqual({ consumed: 6 });
    });

    it('consumeJson keeps the TTL (and a durable value durable)', async () => {
      const k = key('consume-ttl');
      await store.set(k, '{"a":1}', { ttlSeconds: 60 });
      await store.consumeJson(k, 1);
      const ttl = await store.ttl(k);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(60);
      const durable = key('consume-durable');
      await store.set(durable, '{"a":1}');
      await store.consumeJson(durable, 1);
      expect(await store.ttl(durable)).toBe(-1);
    });

    it('lets exactly one of 20 concurrent consumeJson calls win', async () => {
      const k = key('consume-race');
      await store.set(k, '{"code":"abc"}', { ttlSeconds: 60 });
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => store.consumeJson(k, 1000 + i)));
      expect(results.filter((r) => r === 'consumed')).toHaveLength(1);
      expect(results.filter((r) => r === 'already-consumed')).toHaveLength(19);
      const winner = 1000 + results.indexOf('consumed');
      expect(JSON.parse((await store.get(k)) ?? 'null')).toEqual({ code: 'abc', consumed: winner });
    });

    it('consumeJson rejects values that are not JSON objects, leaving them alone', async () => {
      for (const bad of ['not json', '[1,2]', '42', 'null', '"s"']) {
        const k = key('consume-bad');
        await store.set(k, bad);
        await expect(store.consumeJson(k, 1)).rejects.toThrow();
        expect(await store.get(k)).toBe(bad);
      }
    });

    it('delete counts the keys that existed', async () => {
      const [a, b, set, absent] = ['a', 'b', 'set', 'absent'].map(key) as [string, string, string, string];
      await store.set(a, '1');
      await store.set(b, '2', { ttlSeconds: 30 });
      await store.addToSet(set, 'm', 30);
      expect(await store.delete(a, b, set, absent)).toBe(3);
      expect(await store.get(a)).toBeNull();
      expect(await store.get(b)).toBeNull();
      expect(await store.members(set)).toEqual([]);
      expect(await store.delete(a)).toBe(0);
      expect(await store.delete()).toBe(0);
    });

    it('collects set members without duplicates', async () => {
      const k = key('set');
      expect(await store.members(k)).toEqual([]);
      await store.addToSet(k, 'a', 30);
      await store.addToSet(k, 'b', 30);
      await store.addToSet(k, 'a', 30);
      expect((await store.members(k)).sort()).toEqual(['a', 'b']);
    });

    it('drops set members past their own expiry at the next add, and removes members on request', async () => {
      const k = key('set-members-expire');
      await store.addToSet(k, 'short', 1);
      await store.addToSet(k, 'long', 30);
      await store.addToSet(k, 'renewed', 1);
      await store.addToSet(k, 'renewed', 30); // added again: the later expiry holds
      await sleep(1_200);
      await store.addToSet(k, 'new', 30);
      expect((await store.members(k)).sort()).toEqual(['long', 'new', 'renewed']);
      await store.removeFromSet(k, 'long', 'not-a-member');
      await store.removeFromSet(k);
      expect((await store.members(k)).sort()).toEqual(['new', 'renewed']);
      await store.removeFromSet(key('no-such-set'), 'x');
    });

    it('grows a set TTL but never shrinks it', async () => {
      const k = key('set-ttl');
      await store.addToSet(k, 'a', 10);
      expect(await store.ttl(k)).toBeGreaterThanOrEqual(9);
      expect(await store.ttl(k)).toBeLessThanOrEqual(10);
      await store.addToSet(k, 'b', 100);
      expect(await store.ttl(k)).toBeGreaterThanOrEqual(99);
      await store.addToSet(k, 'c', 5);
      expect(await store.ttl(k)).toBeGreaterThanOrEqual(99);
      expect((await store.members(k)).sort()).toEqual(['a', 'b', 'c']);
    });

    it('pushCapped keeps the newest `cap` entries; listRange reads them newest first', async () => {
      const k = key('list');
      expect(await store.listRange(k, 10)).toEqual([]);
      for (const value of ['1', '2', '3', '4', '5']) await store.pushCapped(k, value, 3, 60);
      expect(await store.listRange(k, 10)).toEqual(['5', '4', '3']);
      expect(await store.listRange(k, 2)).toEqual(['5', '4']);
      expect(await store.listRange(k, 1)).toEqual(['5']);
      await store.pushCapped(k, '{"ü":"✓"}', 3, 60); // values round-trip as given
      expect(await store.listRange(k, 3)).toEqual(['{"ü":"✓"}', '5', '4']);
      await store.pushCapped(k, '5', 3, 60); // duplicates are separate entries (a list, not a set)
      expect(await store.listRange(k, 3)).toEqual(['5', '{"ü":"✓"}', '5']);
    });

    it('pushCapped sets the TTL and every push renews it, longer or shorter', async () => {
      const k = key('list-ttl');
      await store.pushCapped(k, 'a', 10, 100);
      expect(await store.ttl(k)).toBeGreaterThanOrEqual(99);
      expect(await store.ttl(k)).toBeLessThanOrEqual(100);
      await store.pushCapped(k, 'b', 10, 20);
      expect(await store.ttl(k)).toBeGreaterThanOrEqual(19);
      expect(await store.ttl(k)).toBeLessThanOrEqual(20);
      await store.pushCapped(k, 'c', 10, 500);
      expect(await store.ttl(k)).toBeGreaterThanOrEqual(499);
      expect(await store.listRange(k, 10)).toEqual(['c', 'b', 'a']);
    });

    it('keeps exactly `cap` entries under 20 concurrent pushCapped calls', async () => {
      const k = key('list-race');
      const values = Array.from({ length: 20 }, (_, i) => `v${i}`);
      await Promise.all(values.map((value) => store.pushCapped(k, value, 8, 60)));
      const kept = await store.listRange(k, 50);
      expect(kept).toHaveLength(8);
      expect(new Set(kept).size).toBe(8);
      for (const value of kept) expect(values).toContain(value);
    });

    it('rejects string commands on a set and set commands on a string (WRONGTYPE)', async () => {
      const set = key('wt-set');
      const str = key('wt-str');
      await store.addToSet(set, 'm', 30);
      await store.set(str, 'v');
      await expect(store.get(set)).rejects.toThrow(/WRONGTYPE/);
      await expect(store.take(set)).rejects.toThrow(/WRONGTYPE/);
      await expect(store.members(str)).rejects.toThrow(/WRONGTYPE/);
      await expect(store.addToSet(str, 'm', 30)).rejects.toThrow(/WRONGTYPE/);
      expect(await store.members(set)).toEqual(['m']);
      expect(await store.get(str)).toBe('v');
    });

    it('rejects list commands on other types and other commands on a list (WRONGTYPE), changing nothing', async () => {
      const list = key('wt-list');
      const str = key('wt-list-str');
      const set = key('wt-list-set');
      await store.pushCapped(list, 'entry', 5, 30);
      await store.set(str, 'v'); // durable: a failed push must not give it a TTL
      await store.addToSet(set, 'm', 30);
      await expect(store.get(list)).rejects.toThrow(/WRONGTYPE/);
      await expect(store.take(list)).rejects.toThrow(/WRONGTYPE/);
      await expect(store.members(list)).rejects.toThrow(/WRONGTYPE/);
      await expect(store.addToSet(list, 'm', 30)).rejects.toThrow(/WRONGTYPE/);
      await expect(store.consumeJson(list, 1)).rejects.toThrow(/WRONGTYPE/);
      await expect(store.pushCapped(str, 'x', 5, 30)).rejects.toThrow(/WRONGTYPE/);
      await expect(store.pushCapped(set, 'x', 5, 30)).rejects.toThrow(/WRONGTYPE/);
      await expect(store.listRange(str, 5)).rejects.toThrow(/WRONGTYPE/);
      await expect(store.listRange(set, 5)).rejects.toThrow(/WRONGTYPE/);
      expect(await store.listRange(list, 5)).toEqual(['entry']);
      expect(await store.get(str)).toBe('v');
      expect(await store.ttl(str)).toBe(-1);
      expect(await store.members(set)).toEqual(['m']);
      // A plain set replaces a list (as Redis SET does), and delete counts it.
      await store.set(list, 'now a string');
      expect(await store.get(list)).toBe('now a string');
      const other = key('wt-list-delete');
      await store.pushCapped(other, 'entry', 5, 30);
      expect(await store.delete(other)).toBe(1);
      expect(await store.listRange(other, 5)).toEqual([]);
    });

    it('rejects TTLs that are not positive integers, writing nothing', async () => {
      const k = key('bad-ttl');
      for (const ttlSeconds of INVALID_TTLS) {
        await expect(store.set(k, 'v', { ttlSeconds })).rejects.toThrow(TypeError);
        await expect(store.setIfAbsent(k, 'v', { ttlSeconds })).rejects.toThrow(TypeError);
        await expect(store.addToSet(k, 'm', ttlSeconds)).rejects.toThrow(TypeError);
        await expect(store.pushCapped(k, 'v', 5, ttlSeconds)).rejects.toThrow(TypeError);
      }
      expect(await store.ttl(k)).toBe(-2);
    });

    it('rejects list caps and counts that are not positive integers, writing nothing', async () => {
      const k = key('bad-count');
      for (const bad of INVALID_TTLS) {
        await expect(store.pushCapped(k, 'v', bad, 30)).rejects.toThrow(TypeError);
        await expect(store.listRange(k, bad)).rejects.toThrow(TypeError);
      }
      expect(await store.ttl(k)).toBe(-2);
    });
  });
}
