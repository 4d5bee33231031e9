import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ResolvedTenant } from '@broker/config';
import { keys, type Store } from '@broker/store';
import { emailDomain } from './directory.ts';

export type UserIdType = 'username' | 'federationId';

/** A user of a tenant, as the broker knows them. `id` is the OIDC `sub`. */
export interface User {
  id: string;
  tenantId: string;
  /** How the IdP identifies the user to us, and the value. */
  userIdType: UserIdType;
  userId: string;
  username?: string | undefined;
  federationId?: string | undefined;
  email?: string | undefined;
  givenName?: string | undefined;
  surname?: string | undefined;
  /** Role / access profile. */
  role: string;
  /** Accounts of the tenant the user belongs to (multi-account tenants). */
  accounts: string[];
  /** The connection the user last signed in through. */
  connectionId?: string | undefined;
  /**
   * The connection whose assertion gave the current `email` (its policy says whether the address
   * is verified); null when no connection did (provisioned). Absent in records written before it
   * existed: then the connection last used stands in.
   */
  emailConnectionId?: string | null | undefined;
  createdAt: string;
  updatedAt: string;
  lastLoginAt?: string | undefined;
}

/** What a validated SAML assertion says about the person, mapped by the connection's settings. */
export interface AssertedIdentity {
  tenantId: string;
  connectionId: string;
  userIdType: UserIdType;
  /** The identifier users are matched by (from the NameID or the configured attribute). */
  userId: string;
  username?: string | undefined;
  email?: string | undefined;
  givenName?: string | undefined;
  surname?: string | undefined;
  /** The access profile the IdP asserts, when the connection maps one. */
  accessProfile?: string | undefined;
  /**
   * The connection maps an attribute to the access profile: the IdP decides the role at every
   * login, and when it sends none the role is the default again (the person left the admin
   * group), not what an earlier login stored. Without a mapping the stored (provisioned) role
   * stays. Email and names keep their stored value when a login does not send them.
   */
  accessProfileMapped: boolean;
}

export interface LoginPolicy {
  /** Create Users (JIT): create an unknown user; false: refuse them. */
  createUsers: boolean;
  /** Role / access profile of a created user when the IdP asserts none. */
  defaultRole: string;
  /** An account of the tenant the login is for (login links); the user joins it. */
  account?: string | undefined;
}

export type LoginOutcome = { user: User; created: boolean } | { refused: 'not_provisioned' };

/** A user created by an administrator ahead of their first login (Create Users off). */
export interface ProvisionedUser {
  tenantId: string;
  userIdType: UserIdType;
  userId: string;
  email?: string | undefined;
  givenName?: string | undefined;
  surname?: string | undefined;
  role: string;
  accounts?: string[] | undefined;
}

export interface UserRepository {
  findById(id: string): Promise<User | undefined>;
  /** The user a tenant knows by this user identifier (user ID type and value), if any. */
  findByIdentifier(tenantId: string, type: UserIdType, value: string): Promise<User | undefined>;
  /**
   * The user for an asserted identity, matched by (tenant, user id type, user id). Unknown users
   * are created when the policy allows it and refused otherwise. Mapped attributes are refreshed
   * on every login.
   */
  recordLogin(identity: AssertedIdentity, policy: LoginPolicy): Promise<LoginOutcome>;
  /** Create a user ahead of their first login; returns the existing one when already there. */
  provision(user: ProvisionedUser): Promise<User>;
}

/** The connection a stored user's email came from (null: none, e.g. provisioned). */
export function emailSource(user: User): string | null | undefined {
  if (user.email === undefined) return undefined;
  return 'emailConnectionId' in user ? user.emailConnectionId : user.connectionId;
}

/**
 * Whether the user's email is verified (the email_verified claim): only when the connection the
 * address came from says the IdP's directory verifies addresses, and, for a tenant that lists its
 * email domains, the address is in one of them: an IdP vouches for its organization's addresses,
 * not for one a user typed into a profile. Undefined when the user has no email.
 */
export function isEmailVerified(user: User, tenant: ResolvedTenant): boolean | undefined {
  if (user.email === undefined) return undefined;
  const source = emailSource(user);
  const domain = emailDomain(user.email);
  const ownDomain = tenant.emailDomains.length === 0 || (domain !== undefined && tenant.emailDomains.includes(domain));
  return typeof source === 'string' && ownDomain && tenant.connections.find((c) => c.id === source)?.emailVerified === true;
}

/** Attempts at writing a login over concurrent ones before giving up (with pauses: seconds). */
const RECORD_LOGIN_ATTEMPTS = 100;

/** The fields a login writes (a field absent from the stored JSON reads as undefined; null stays null). */
const PROFILE_FIELDS = ['tenantId', 'userIdType', 'userId', 'username', 'federationId', 'email', 'givenName', 'surname', 'role', 'connectionId', 'emailConnectionId'] as const;
function sameProfile(stored: User, profile: Omit<User, 'createdAt' | 'updatedAt' | 'lastLoginAt'>): boolean {
  if (PROFILE_FIELDS.some((field) => stored[field] !== profile[field])) return false;
  const accounts = new Set(stored.accounts);
  return accounts.size === profile.accounts.length && profile.accounts.every((account) => accounts.has(account));
}

export function createUserRepository(store: Store, now: () => Date = () => new Date()): UserRepository {
  const findById = async (id: string): Promise<User | undefined> => {
    const value = await store.get(keys.user(id));
    return value === null ? undefined : (JSON.parse(value) as User);
  };
  /**
   * The user id for an identifier, claiming a new one when there is none. A returning user (the
   * common case) costs one read; `known` is that read when the caller made it already.
   */
  const claim = async (tenantId: string, type: UserIdType, value: string, known?: string | null): Promise<{ id: string; created: boolean }> => {
    const indexKey = keys.userByIdentifier(tenantId, type, value);
    const existing = known === undefined ? await store.get(indexKey) : known;
    if (existing !== null) return { id: existing, created: false };
    const candidate = randomUUID();
    // Of concurrent first logins exactly one claims the identifier; the others read its id.
    if (await store.setIfAbsent(indexKey, candidate)) return { id: candidate, created: true };
    const id = await store.get(indexKey);
    if (id === null) throw new Error(`user index ${indexKey} vanished`);
    return { id, created: false };
  };
  const save = (user: User) => store.set(keys.user(user.id), JSON.stringify(user));

  return {
    findById,

    async findByIdentifier(tenantId, type, value) {
      const id = await store.get(keys.userByIdentifier(tenantId, type, value));
      return id === null ? undefined : findById(id);
    },

    async recordLogin(identity, policy) {
      const indexKey = keys.userByIdentifier(identity.tenantId, identity.userIdType, identity.userId);
      const known = await store.get(indexKey);
      if (!policy.createUsers && known === null) return { refused: 'not_provisioned' };
      const { id, created } = await claim(identity.tenantId, identity.userIdType, identity.userId, known);
      // Read, merge, and write only over what was read: concurrent logins of one user (through
      // different account links, say) each add their account instead of overwriting each other.
      // Logins of one person at once are common (tabs, devices, a shared service account), so a
      // lost race is no error: read again and merge again, after a short random pause when the
      // races go on, and stop as soon as what is stored already says all this login would write
      // (a concurrent login of the same profile wrote it; its lastLoginAt is as good as ours).
      for (let attempt = 0; ; attempt++) {
        const raw = await store.get(keys.user(id));
        const existing = raw === null ? undefined : (JSON.parse(raw) as User);
        const at = now().toISOString();
        const accounts = new Set(existing?.accounts ?? []);
        if (policy.account) accounts.add(policy.account);
        const profile: Omit<User, 'createdAt' | 'updatedAt' | 'lastLoginAt'> = {
          id,
          tenantId: identity.tenantId,
          userIdType: identity.userIdType,
          userId: identity.userId,
          username: identity.userIdType === 'username' ? identity.userId : (identity.username ?? existing?.username),
          federationId: identity.userIdType === 'federationId' ? identity.userId : existing?.federationId,
          email: identity.email ?? existing?.email,
          givenName: identity.givenName ?? existing?.givenName,
          surname: identity.surname ?? existing?.surname,
          role: (identity.accessProfileMapped ? identity.accessProfile : (identity.accessProfile ?? existing?.role)) ?? policy.defaultRole,
          accounts: [...accounts],
          connectionId: identity.connectionId,
          // Whose policy decides email_verified: the connection the address came from.
          emailConnectionId: identity.email !== undefined ? identity.connectionId : existing === undefined ? undefined : emailSource(existing),
        };
        const unchanged = existing !== undefined && sameProfile(existing, profile);
        if (attempt > 0 && unchanged) return { user: existing, created };
        const user: User = {
          ...profile,
          createdAt: existing?.createdAt ?? at,
          // When the profile last changed; a login that changes nothing leaves it.
          updatedAt: unchanged ? existing.updatedAt : at,
          lastLoginAt: at,
        };
        if (await store.compareAndSet(keys.user(id), raw, JSON.stringify(user))) return { user, created };
        if (attempt + 1 >= RECORD_LOGIN_ATTEMPTS) throw new Error(`user ${id} kept changing during a login (${RECORD_LOGIN_ATTEMPTS} attempts)`);
        if (attempt >= 2) await sleep(Math.random() * Math.min(50, 2 ** attempt));
      }
    },

    async provision(input) {
      const { id, created } = await claim(input.tenantId, input.userIdType, input.userId);
      if (!created) {
        const existing = await findById(id);
        if (existing) return existing;
      }
      const at = now().toISOString();
      const user: User = {
        id,
        tenantId: input.tenantId,
        userIdType: input.userIdType,
        userId: input.userId,
        username: input.userIdType === 'username' ? input.userId : undefined,
        federationId: input.userIdType === 'federationId' ? input.userId : undefined,
        email: input.email,
        givenName: input.givenName,
        surname: input.surname,
        role: input.role,
        accounts: input.accounts ?? [],
        // No connection vouched for a provisioned address.
        emailConnectionId: null,
        createdAt: at,
        updatedAt: at,
      };
      await save(user);
      return user;
    },
  };
}
