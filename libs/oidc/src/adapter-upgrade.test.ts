// On a real Redis: what a version before the sorted-set indexes left (plain sets under the old
// key names) is still found by Single Logout and grant revocation after an upgrade, and while old
// processes of a rolling deploy go on writing it.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisStore, keys, type Store } from '@broker/store';
import { redisTestSupport } from '@broker/store/testing';
import { createStoreAdapter, endSessionsOf } from './adapter.ts';

const { redisAvailable, redisTestUrl, requireRedisInCi, skipRedisTests, deleteKeysUnder } = redisTestSupport;
const url = redisTestUrl();
const available = await redisAvailable(url);

describe.skipIf(skipRedisTests(available, url))('store adapter on Redis: indexes an earlier version wrote', () => {
  const prefix = `test:adapter-upgrade:${randomUUID()}:`;
  let admin: Redis;
  let store: Store;
  beforeAll(() => {
    requireRedisInCi(available, url);
    admin = new Redis(url, { maxRetriesPerRequest: 1 });
    store = createRedisStore({ url, keyPrefix: prefix });
  });
  afterAll(async () => {
    await store?.close();
    if (!admin) return;
    await deleteKeysUnder(admin, prefix);
    await admin.quit();
  });

  it('Single Logout ends a session indexed the old way as well as one indexed the new way', async () => {
    await admin.set(`${prefix}${keys.oidcModel('Session', 's-old')}`, JSON.stringify({ uid: 'u-old', accountId: 'user-1' }), 'EX', 3600);
    await admin.sadd(`${prefix}${keys.legacyOidcSessionsByAccount('user-1')}`, 's-old');
    await new (createStoreAdapter(store))('Session').upsert('s-new', { uid: 'u-new', accountId: 'user-1' }, 3600);
    expect(await endSessionsOf(store, 'user-1')).toBe(2);
    expect(await admin.exists(`${prefix}${keys.oidcModel('Session', 's-old')}`, `${prefix}${keys.oidcModel('Session', 's-new')}`)).toBe(0);
    expect(await admin.smembers(`${prefix}${keys.legacyOidcSessionsByAccount('user-1')}`)).toEqual([]);
  });

  it('revoking a grant deletes the tokens its old index names as well as its new one', async () => {
    const Adapter = createStoreAdapter(store);
    await admin.set(`${prefix}${keys.oidcModel('RefreshToken', 'rt-old')}`, JSON.stringify({ grantId: 'g1' }), 'EX', 3600);
    await admin.sadd(`${prefix}${keys.legacyOidcGrantIndex('g1')}`, keys.oidcModel('RefreshToken', 'rt-old'));
    await new Adapter('AccessToken').upsert('at-new', { grantId: 'g1', accountId: 'user-1' }, 600);
    await new Adapter('RefreshToken').revokeByGrantId('g1');
    expect(await admin.exists(`${prefix}${keys.oidcModel('RefreshToken', 'rt-old')}`, `${prefix}${keys.oidcModel('AccessToken', 'at-new')}`)).toBe(0);
    expect(await admin.exists(`${prefix}${keys.legacyOidcGrantIndex('g1')}`, `${prefix}${keys.oidcGrantIndex('g1')}`)).toBe(0);
  });
});
