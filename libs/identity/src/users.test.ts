import { describe, expect, it } from 'vitest';
import { createMemoryStore, type Store } from '@broker/store';
import { createUserRepository, emailSource, type AssertedIdentity, type LoginOutcome, type User } from './users.ts';

const alice: AssertedIdentity = {
  tenantId: 'acme',
  connectionId: 'acme-dev-idp',
  userIdType: 'federationId',
  userId: 'alice@acme.test',
  email: 'alice@acme.test',
  givenName: 'Alice',
  surname: 'Anderson',
  // The connection maps no access profile.
  accessProfileMapped: false,
};
/** The same person through a connection that maps the access profile. */
const aliceWithProfile = (accessProfile: string | undefined): AssertedIdentity => ({ ...alice, accessProfile, accessProfileMapped: true });
const jit = { createUsers: true, defaultRole: 'member' };

const userOf = (outcome: LoginOutcome): { user: User; created: boolean } => {
  if ('refused' in outcome) throw new Error(`refused: ${outcome.refused}`);
  return outcome;
};

/** A store whose reads and writes yield first, so concurrent logins really interleave. */
function interleavingStore(): Store {
  const store = createMemoryStore();
  const paused =
    <A extends unknown[], R>(operation: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 5));
      return operation(...args);
    };
  return { ...store, get: paused(store.get), set: paused(store.set), setIfAbsent: paused(store.setIfAbsent), compareAndSet: paused(store.compareAndSet) };
}

describe('users', () => {
  it('creates a user on first login with the default role, then finds the same user', async () => {
    const users = createUserRepository(createMemoryStore());
    const first = userOf(await users.recordLogin(alice, jit));
    expect(first.created).toBe(true);
    expect(first.user).toMatchObject({ tenantId: 'acme', federationId: 'alice@acme.test', email: 'alice@acme.test', givenName: 'Alice', role: 'member', accounts: [] });
    const second = userOf(await users.recordLogin(alice, jit));
    expect(second.created).toBe(false);
    expect(second.user.id).toBe(first.user.id);
    expect(await users.findById(first.user.id)).toEqual(second.user);
  });

  it('refreshes the mapped attributes on every login, keeping the role and creation time', async () => {
    let clock = Date.parse('2026-01-01T00:00:00Z');
    const users = createUserRepository(createMemoryStore(), () => new Date(clock));
    const first = userOf(await users.recordLogin(alice, jit));
    clock += 60_000;
    const second = userOf(await users.recordLogin({ ...alice, givenName: 'Alicia', surname: 'Smith' }, { ...jit, defaultRole: 'admin' }));
    expect(second.user).toMatchObject({ id: first.user.id, givenName: 'Alicia', surname: 'Smith', role: 'member', createdAt: first.user.createdAt });
    expect(second.user.lastLoginAt).not.toBe(first.user.lastLoginAt);
  });

  it('takes the access profile from the IdP when the connection maps one, and the default when the IdP stops sending it', async () => {
    const users = createUserRepository(createMemoryStore());
    expect(userOf(await users.recordLogin(aliceWithProfile('admin'), jit)).user.role).toBe('admin');
    expect(userOf(await users.recordLogin(aliceWithProfile('viewer'), jit)).user.role).toBe('viewer');
    expect(userOf(await users.recordLogin(aliceWithProfile('admin'), jit)).user.role).toBe('admin');
    // Taken out of the IdP's admin group: no role attribute any more. The role does not stay.
    expect(userOf(await users.recordLogin(aliceWithProfile(undefined), jit)).user.role).toBe('member');
  });

  it('keeps a provisioned role through a connection that maps no access profile', async () => {
    const users = createUserRepository(createMemoryStore());
    await users.provision({ tenantId: 'acme', userIdType: 'federationId', userId: 'alice@acme.test', role: 'auditor' });
    expect(userOf(await users.recordLogin(alice, jit)).user.role).toBe('auditor');
    // A connection that maps one decides: nothing sent is the default role.
    expect(userOf(await users.recordLogin(aliceWithProfile(undefined), jit)).user.role).toBe('member');
  });

  it('a provisioned address has no source connection, also after logins that send none', async () => {
    const users = createUserRepository(createMemoryStore());
    const provisioned = await users.provision({ tenantId: 'acme', userIdType: 'federationId', userId: 'alice@acme.test', email: 'alice@acme.test', role: 'member' });
    expect(provisioned.emailConnectionId).toBeNull();
    expect(emailSource(provisioned)).toBeNull();
    const after = userOf(await users.recordLogin({ ...alice, email: undefined }, jit)).user;
    expect(after).toMatchObject({ email: 'alice@acme.test', emailConnectionId: null });
    // A record from before the field existed: the connection last used stands in.
    expect(emailSource({ ...after, emailConnectionId: undefined })).toBeUndefined();
    const legacy: User = { ...after };
    delete legacy.emailConnectionId;
    expect(emailSource(legacy)).toBe('acme-dev-idp');
  });

  it('records which connection gave the email: another connection that sends none does not become its source', async () => {
    const users = createUserRepository(createMemoryStore());
    expect(userOf(await users.recordLogin(alice, jit)).user).toMatchObject({ email: 'alice@acme.test', emailConnectionId: 'acme-dev-idp' });
    // Through a second connection of the tenant that maps no email: the address (and its source) stay.
    const viaOther = userOf(await users.recordLogin({ ...alice, connectionId: 'acme-other', email: undefined }, jit)).user;
    expect(viaOther).toMatchObject({ connectionId: 'acme-other', email: 'alice@acme.test', emailConnectionId: 'acme-dev-idp' });
    // The second connection sends an address: it becomes the source.
    const sent = userOf(await users.recordLogin({ ...alice, connectionId: 'acme-other', email: 'alice@acme.test' }, jit)).user;
    expect(sent.emailConnectionId).toBe('acme-other');
  });

  it('matches by user id type: a username and a federation id with the same value are different users', async () => {
    const users = createUserRepository(createMemoryStore());
    const byFederation = userOf(await users.recordLogin(alice, jit)).user;
    const byUsername = userOf(await users.recordLogin({ ...alice, userIdType: 'username' }, jit)).user;
    expect(byUsername.id).not.toBe(byFederation.id);
    expect(byUsername.username).toBe('alice@acme.test');
    // Tenants are separate namespaces too.
    expect(userOf(await users.recordLogin({ ...alice, tenantId: 'globex' }, jit)).user.id).not.toBe(byFederation.id);
  });

  it('with Create Users off, refuses an unknown user and stores nothing, but signs in a provisioned one', async () => {
    const store = createMemoryStore();
    const users = createUserRepository(store);
    expect(await users.recordLogin(alice, { createUsers: false, defaultRole: 'member' })).toEqual({ refused: 'not_provisioned' });
    const provisioned = await users.provision({ tenantId: 'acme', userIdType: 'federationId', userId: 'alice@acme.test', role: 'admin' });
    const { user, created } = userOf(await users.recordLogin(alice, { createUsers: false, defaultRole: 'member' }));
    expect(created).toBe(false);
    expect(user).toMatchObject({ id: provisioned.id, role: 'admin', givenName: 'Alice' });
  });

  it('adds the account of a login link to the user', async () => {
    const users = createUserRepository(createMemoryStore());
    userOf(await users.recordLogin(alice, { ...jit, account: 'acme-eu' }));
    expect(userOf(await users.recordLogin(alice, { ...jit, account: 'acme-us' })).user.accounts.sort()).toEqual(['acme-eu', 'acme-us']);
  });

  it('creates exactly one user for 10 concurrent first logins', async () => {
    const users = createUserRepository(interleavingStore());
    const outcomes = (await Promise.all(Array.from({ length: 10 }, () => users.recordLogin(alice, jit)))).map(userOf);
    expect(outcomes.filter((o) => o.created)).toHaveLength(1);
    expect(new Set(outcomes.map((o) => o.user.id)).size).toBe(1);
  });

  it('keeps every account of concurrent logins through different account links (no lost update)', async () => {
    const users = createUserRepository(interleavingStore());
    userOf(await users.recordLogin(alice, jit));
    const accounts = Array.from({ length: 12 }, (_, i) => `acct-${i}`);
    const outcomes = (await Promise.all(accounts.map((account) => users.recordLogin(alice, { ...jit, account })))).map(userOf);
    const stored = await users.findById(outcomes[0]?.user.id ?? '');
    expect(stored?.accounts?.sort()).toEqual([...accounts].sort());
  });

  it('signs in 64 concurrent logins of one person (tabs, devices), none refused for losing a race', async () => {
    const users = createUserRepository(interleavingStore());
    const first = userOf(await users.recordLogin(alice, jit));
    const outcomes = (await Promise.all(Array.from({ length: 64 }, () => users.recordLogin({ ...alice, givenName: 'Alicia' }, jit)))).map(userOf);
    expect(outcomes.every((o) => o.user.id === first.user.id && o.user.givenName === 'Alicia')).toBe(true);
    expect((await users.findById(first.user.id))?.givenName).toBe('Alicia');
  });

  it('keeps every account of 48 concurrent logins through different account links', async () => {
    const users = createUserRepository(interleavingStore());
    userOf(await users.recordLogin(alice, jit));
    const accounts = Array.from({ length: 48 }, (_, i) => `acct-${i}`);
    const outcomes = (await Promise.all(accounts.map((account) => users.recordLogin(alice, { ...jit, account })))).map(userOf);
    expect((await users.findById(outcomes[0]?.user.id ?? ''))?.accounts.sort()).toEqual([...accounts].sort());
  });

  it('moves updatedAt only when the profile changes, lastLoginAt at every login', async () => {
    let clock = Date.parse('2026-01-01T00:00:00Z');
    const users = createUserRepository(createMemoryStore(), () => new Date(clock));
    const first = userOf(await users.recordLogin(alice, jit)).user;
    clock += 60_000;
    const same = userOf(await users.recordLogin(alice, jit)).user;
    expect(same.updatedAt).toBe(first.updatedAt);
    expect(same.lastLoginAt).toBe(new Date(clock).toISOString());
    clock += 60_000;
    const renamed = userOf(await users.recordLogin({ ...alice, surname: 'Smith' }, jit)).user;
    expect(renamed.updatedAt).toBe(new Date(clock).toISOString());
  });
});
