import { errors, type AdapterPayload } from 'oidc-provider';
import { describe, expect, it } from 'vitest';
import { createMemoryStore, keys, type Store } from '@broker/store';
import { createStoreAdapter, endSessionsOf } from './adapter.ts';

const code = (grantId: string, extra: AdapterPayload = {}): AdapterPayload => ({ grantId, accountId: 'user-1', clientId: 'demo-native', kind: 'AuthorizationCode', ...extra });

/** A memory store whose every call yields first, so concurrent callers interleave as on Redis. */
function interleavingStore(inner: Store = createMemoryStore()): Store {
  return new Proxy(inner, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      return async (...args: unknown[]) => {
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 3));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

function setup(store: Store = createMemoryStore()) {
  const Adapter = createStoreAdapter(store);
  return {
    store,
    codes: new Adapter('AuthorizationCode'),
    accessTokens: new Adapter('AccessToken'),
    refreshTokens: new Adapter('RefreshToken'),
    sessions: new Adapter('Session'),
    interactions: new Adapter('Interaction'),
    deviceCodes: new Adapter('DeviceCode'),
  };
}

describe('store adapter', () => {
  it('upserts and finds a model instance, with the TTL oidc-provider asks for', async () => {
    const { store, codes } = setup();
    await codes.upsert('c1', code('g1'), 60);
    expect(await codes.find('c1')).toEqual(code('g1'));
    const ttl = await store.ttl(keys.oidcModel('AuthorizationCode', 'c1'));
    expect(ttl).toBeGreaterThan(55);
    expect(ttl).toBeLessThanOrEqual(60);
    expect(await codes.find('nope')).toBeUndefined();

    // An upsert replaces the payload.
    await codes.upsert('c1', code('g1', { scope: 'openid' }), 60);
    expect((await codes.find('c1'))?.scope).toBe('openid');
  });

  it('never stores an instance without expiry when its lifetime is over (zero or negative), only when none is given', async () => {
    const { store, interactions } = setup();
    const Adapter = createStoreAdapter(store);
    await interactions.upsert('i0', { kind: 'Interaction' }, 0);
    await interactions.upsert('i-1', { kind: 'Interaction' }, -3);
    for (const id of ['i0', 'i-1']) {
      const ttl = await store.ttl(keys.oidcModel('Interaction', id));
      expect(ttl, id).toBeGreaterThan(0);
      expect(ttl, id).toBeLessThanOrEqual(1);
    }
    // oidc-provider upserts a Client without expiresIn: no expiry.
    await new Adapter('Client').upsert('c', { client_id: 'c' }, undefined);
    expect(await store.ttl(keys.oidcModel('Client', 'c'))).toBe(-1);
  });

  it('keeps models apart by name', async () => {
    const { codes, accessTokens } = setup();
    await codes.upsert('same-id', code('g1'), 60);
    expect(await accessTokens.find('same-id')).toBeUndefined();
  });

  it('indexes sessions by account; endSessionsOf ends them and their uid lookups, and no other account\'s', async () => {
    const { store, sessions } = setup();
    await sessions.upsert('s0', { uid: 'uid-0' }, 3600); // before login: no account, not indexed
    await sessions.upsert('s1', { uid: 'uid-1', accountId: 'user-1' }, 3600);
    await sessions.upsert('s2', { uid: 'uid-2', accountId: 'user-1' }, 7200);
    await sessions.upsert('s3', { uid: 'uid-3', accountId: 'user-2' }, 3600);
    expect((await store.members(keys.oidcSessionsByAccount('user-1'))).sort()).toEqual(['s1', 's2']);
    const ttl = await store.ttl(keys.oidcSessionsByAccount('user-1'));
    expect(ttl).toBeGreaterThan(7000);
    // The browser of s2 signed in as someone else since: the stale index entry is left alone.
    await sessions.upsert('s2', { uid: 'uid-2', accountId: 'user-2' }, 7200);

    expect(await endSessionsOf(store, 'user-1')).toBe(1);
    expect(await sessions.find('s1')).toBeUndefined();
    expect(await sessions.findByUid('uid-1')).toBeUndefined();
    expect(await sessions.find('s2')).toEqual({ uid: 'uid-2', accountId: 'user-2' });
    expect(await sessions.find('s3')).toEqual({ uid: 'uid-3', accountId: 'user-2' });
    expect(await sessions.find('s0')).toEqual({ uid: 'uid-0' });
    expect(await store.members(keys.oidcSessionsByAccount('user-1'))).toEqual([]);
    expect(await endSessionsOf(store, 'nobody')).toBe(0);
  });

  it('keeps the index entry of a session saved while endSessionsOf runs (a login finishing then)', async () => {
    const inner = createMemoryStore();
    let reachedRemoval: () => void = () => undefined;
    let carryOn: () => void = () => undefined;
    const paused = new Promise<void>((resolve) => (carryOn = resolve));
    // endSessionsOf is held between reading the index and updating it, as a slow round trip would.
    const store: Store = {
      ...inner,
      removeFromSet: async (key, ...members) => {
        reachedRemoval();
        await paused;
        return inner.removeFromSet(key, ...members);
      },
    };
    const { sessions } = setup(store);
    await sessions.upsert('s1', { uid: 'uid-1', accountId: 'user-1' }, 3600);
    const ending = endSessionsOf(store, 'user-1');
    await new Promise<void>((resolve) => (reachedRemoval = resolve));
    await sessions.upsert('s2', { uid: 'uid-2', accountId: 'user-1' }, 3600);
    carryOn();
    expect(await ending).toBe(1);
    expect(await store.members(keys.oidcSessionsByAccount('user-1'))).toEqual(['s2']);
    expect(await endSessionsOf(store, 'user-1')).toBe(1);
    expect(await sessions.find('s2')).toBeUndefined();
  });

  it('keeps a user\'s session index as small as their live sessions, however many came and went', async () => {
    let clock = Date.parse('2026-01-01T00:00:00Z');
    const { store, sessions } = setup(createMemoryStore({ now: () => clock }));
    for (let i = 0; i < 200; i++) {
      if (i > 0) clock += 1_800_000; // half an hour later: the session before the previous one has expired
      await sessions.upsert(`s${i}`, { uid: `uid-${i}`, accountId: 'user-1' }, 3600);
    }
    expect((await store.members(keys.oidcSessionsByAccount('user-1'))).sort()).toEqual(['s198', 's199']);
  });

  it('finds sessions by uid and device codes by user code', async () => {
    const { sessions, deviceCodes } = setup();
    await sessions.upsert('s1', { uid: 'uid-1', accountId: 'user-1' }, 3600);
    expect(await sessions.findByUid('uid-1')).toEqual({ uid: 'uid-1', accountId: 'user-1' });
    expect(await sessions.findByUid('uid-2')).toBeUndefined();

    await deviceCodes.upsert('d1', { userCode: 'ABCD-EFGH', grantId: 'g9' }, 600);
    expect(await deviceCodes.findByUserCode('ABCD-EFGH')).toEqual({ userCode: 'ABCD-EFGH', grantId: 'g9' });
    expect(await deviceCodes.findByUserCode('ZZZZ-ZZZZ')).toBeUndefined();
  });

  it('destroys an instance', async () => {
    const { interactions } = setup();
    await interactions.upsert('i1', { uid: 'i1' }, 600);
    await interactions.destroy('i1');
    expect(await interactions.find('i1')).toBeUndefined();
  });

  it('consumes once: the payload is marked with the time of consumption', async () => {
    const { codes } = setup();
    await codes.upsert('c1', code('g1'), 60);
    const before = Math.floor(Date.now() / 1000);
    await codes.consume('c1');
    const consumed = (await codes.find('c1'))?.consumed;
    expect(typeof consumed).toBe('number');
    expect(consumed).toBeGreaterThanOrEqual(before);
  });

  it("a second consume throws oidc-provider's InvalidGrant and revokes everything issued under the grant", async () => {
    const { store, codes, accessTokens, refreshTokens } = setup();
    const grants = new (createStoreAdapter(store))('Grant');
    await grants.upsert('g1', { accountId: 'user-1', clientId: 'app' }, 3600);
    await codes.upsert('c1', code('g1'), 60);
    await accessTokens.upsert('at1', { grantId: 'g1', accountId: 'user-1' }, 600);
    await refreshTokens.upsert('rt1', { grantId: 'g1', accountId: 'user-1' }, 86_400);
    // Another grant of the same user and client: untouched.
    await codes.upsert('c2', code('g2'), 60);
    await accessTokens.upsert('at2', { grantId: 'g2', accountId: 'user-1' }, 600);

    await codes.consume('c1');
    const replay = codes.consume('c1');
    await expect(replay).rejects.toBeInstanceOf(errors.InvalidGrant);
    await expect(replay).rejects.toMatchObject({ error: 'invalid_grant', status: 400 });

    expect(await accessTokens.find('at1')).toBeUndefined();
    expect(await refreshTokens.find('rt1')).toBeUndefined();
    expect(await codes.find('c1')).toBeUndefined();
    expect(await store.members(keys.oidcGrantIndex('g1'))).toEqual([]);
    expect(await grants.find('g1')).toBeUndefined();

    expect(await codes.find('c2')).toEqual(code('g2'));
    expect(await accessTokens.find('at2')).toEqual({ grantId: 'g2', accountId: 'user-1' });

    // Every later attempt fails too.
    await expect(codes.consume('c1')).rejects.toBeInstanceOf(errors.InvalidGrant);
  });

  it('throws InvalidGrant for an unknown code', async () => {
    const { codes } = setup();
    await expect(codes.consume('never-issued')).rejects.toBeInstanceOf(errors.InvalidGrant);
  });

  it('revokes by grant id, leaving other grants alone', async () => {
    const { codes, accessTokens, refreshTokens } = setup();
    await accessTokens.upsert('at1', { grantId: 'g1' }, 600);
    await refreshTokens.upsert('rt1', { grantId: 'g1' }, 86_400);
    await accessTokens.upsert('at2', { grantId: 'g2' }, 600);
    await codes.revokeByGrantId('g1');
    expect(await accessTokens.find('at1')).toBeUndefined();
    expect(await refreshTokens.find('rt1')).toBeUndefined();
    expect(await accessTokens.find('at2')).toEqual({ grantId: 'g2' });
  });

  for (const [name, makeStore] of [
    ['memory store', () => createMemoryStore()],
    ['interleaving store', () => interleavingStore()],
  ] as const) {
    it(`of 10 concurrent consumes exactly one succeeds (${name})`, async () => {
      const { codes, accessTokens } = setup(makeStore());
      await codes.upsert('c1', code('g1'), 60);
      await accessTokens.upsert('at1', { grantId: 'g1' }, 600);

      const results = await Promise.allSettled(Array.from({ length: 10 }, () => codes.consume('c1')));
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(rejected).toHaveLength(9);
      for (const r of rejected) expect(r.reason).toBeInstanceOf(errors.InvalidGrant);
      // The losers revoked the grant: the winner's code cannot mint tokens that outlive the race.
      expect(await accessTokens.find('at1')).toBeUndefined();
    });
  }
});
