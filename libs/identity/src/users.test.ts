import { describe, expect, it } from 'vitest';
import { createMemoryStore, keys, type Store } from '@broker/store';
import { createUserRepository, type AssertedIdentity } from './users.ts';

const alice: AssertedIdentity = {
  tenantId: 'acme',
  connectionId: 'acme-dev-idp',
  subject: 'alice@acme.test',
  email: 'alice@acme.test',
  givenName: 'Alice',
  surname: 'Anderson',
};

/** A clock the test moves by hand. */
function clock(start = '2030-01-01T00:00:00.000Z') {
  let at = new Date(start).getTime();
  return { now: () => new Date(at), advance: (ms: number) => void (at += ms) };
}

describe('user repository', () => {
  it('creates a user on the first login, with the default role', async () => {
    const store = createMemoryStore();
    const time = clock();
    const users = createUserRepository(store, time.now);

    const { user, created } = await users.recordLogin(alice, 'member');
    expect(created).toBe(true);
    expect(user).toMatchObject({ ...alice, role: 'member', createdAt: '2030-01-01T00:00:00.000Z', lastLoginAt: '2030-01-01T00:00:00.000Z' });
    expect(user.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(await users.findById(user.id)).toEqual(user);
    expect(await store.get(keys.userBySubject('acme', 'acme-dev-idp', 'alice@acme.test'))).toBe(user.id);
  });

  it('finds the same user on the next login and refreshes names, keeping role and createdAt', async () => {
    const store = createMemoryStore();
    const time = clock();
    const users = createUserRepository(store, time.now);
    const first = await users.recordLogin(alice, 'member');

    time.advance(60_000);
    const second = await users.recordLogin({ ...alice, givenName: 'Alicia', surname: 'Smith', email: 'alicia@acme.test' }, 'admin');
    expect(second.created).toBe(false);
    expect(second.user.id).toBe(first.user.id);
    expect(second.user).toMatchObject({
      givenName: 'Alicia',
      surname: 'Smith',
      email: 'alicia@acme.test',
      // The default role applies to new users only.
      role: 'member',
      createdAt: '2030-01-01T00:00:00.000Z',
      updatedAt: '2030-01-01T00:01:00.000Z',
      lastLoginAt: '2030-01-01T00:01:00.000Z',
    });
    expect(await users.findById(first.user.id)).toEqual(second.user);
  });

  it('keeps known attributes the IdP stopped sending', async () => {
    const users = createUserRepository(createMemoryStore());
    const first = await users.recordLogin(alice, 'member');
    const second = await users.recordLogin({ tenantId: alice.tenantId, connectionId: alice.connectionId, subject: alice.subject }, 'member');
    expect(second.user.id).toBe(first.user.id);
    expect(second.user).toMatchObject({ email: 'alice@acme.test', givenName: 'Alice', surname: 'Anderson' });
  });

  it('keeps users of different tenants, connections and subjects apart', async () => {
    const users = createUserRepository(createMemoryStore());
    const ids = new Set<string>();
    for (const identity of [
      alice,
      { ...alice, tenantId: 'globex' },
      { ...alice, connectionId: 'acme-other-idp' },
      { ...alice, subject: 'bob@acme.test' },
      // Subjects are the IdP's identifiers and compared exactly.
      { ...alice, subject: 'ALICE@acme.test' },
    ]) {
      const { user, created } = await users.recordLogin(identity, 'member');
      expect(created).toBe(true);
      ids.add(user.id);
    }
    expect(ids.size).toBe(5);
  });

  it('returns undefined for an unknown id', async () => {
    const users = createUserRepository(createMemoryStore());
    expect(await users.findById('no-such-user')).toBeUndefined();
  });

  it('creates exactly one user for 10 concurrent first logins of one subject', async () => {
    const store = createMemoryStore();
    const users = createUserRepository(store);
    const results = await Promise.all(Array.from({ length: 10 }, () => users.recordLogin(alice, 'member')));

    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(new Set(results.map((r) => r.user.id)).size).toBe(1);
    const id = results[0]?.user.id ?? '';
    expect(await store.get(keys.userBySubject('acme', 'acme-dev-idp', alice.subject))).toBe(id);
    expect(await users.findById(id)).toMatchObject({ id, subject: alice.subject, role: 'member' });
  });

  it('creates exactly one user under concurrency even when the store interleaves every call', async () => {
    // The memory store answers in order; this one yields between calls like a network store.
    const inner = createMemoryStore();
    const store: Store = new Proxy(inner, {
      get(target, property, receiver) {
        const value: unknown = Reflect.get(target, property, receiver);
        if (typeof value !== 'function') return value;
        return async (...args: unknown[]) => {
          await new Promise((resolve) => setTimeout(resolve, Math.random() * 5));
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    const users = createUserRepository(store);
    const results = await Promise.all(Array.from({ length: 10 }, () => users.recordLogin(alice, 'member')));
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(new Set(results.map((r) => r.user.id)).size).toBe(1);
    const stored = await users.findById(results[0]?.user.id ?? '');
    expect(stored?.id).toBe(results[0]?.user.id);
  });
});
