import { randomUUID } from 'node:crypto';
import { keys, type Store } from '@broker/store';

/** A user of a tenant, as the broker knows them. `id` is the OIDC `sub`. */
export interface User {
  id: string;
  tenantId: string;
  /** The connection the user was first seen through, and the IdP's identifier for them there. */
  connectionId: string;
  subject: string;
  email?: string | undefined;
  givenName?: string | undefined;
  surname?: string | undefined;
  role: string;
  createdAt: string;
  updatedAt: string;
  lastLoginAt: string;
}

/** What a validated SAML assertion says about the person. */
export interface AssertedIdentity {
  tenantId: string;
  connectionId: string;
  /** The IdP's identifier (NameID). */
  subject: string;
  email?: string | undefined;
  givenName?: string | undefined;
  surname?: string | undefined;
}

export interface UserRepository {
  findById(id: string): Promise<User | undefined>;
  /**
   * The user for an asserted identity: found by (tenant, connection, subject), or created on
   * first login with `defaultRole`. Mapped attributes are refreshed on every login.
   */
  recordLogin(identity: AssertedIdentity, defaultRole: string): Promise<{ user: User; created: boolean }>;
}

export function createUserRepository(store: Store, now: () => Date = () => new Date()): UserRepository {
  const findById = async (id: string): Promise<User | undefined> => {
    const value = await store.get(keys.user(id));
    return value === null ? undefined : (JSON.parse(value) as User);
  };
  return {
    findById,
    async recordLogin(identity, defaultRole) {
      const indexKey = keys.userBySubject(identity.tenantId, identity.connectionId, identity.subject);
      const at = now().toISOString();
      // Claim the subject first (SET NX) so two concurrent first logins create one user, not two.
      const candidateId = randomUUID();
      const created = await store.setIfAbsent(indexKey, candidateId);
      const id = created ? candidateId : await store.get(indexKey);
      if (id === null) throw new Error(`user index ${indexKey} vanished during login`);
      const existing = created ? undefined : await findById(id);
      const user: User = {
        id,
        tenantId: identity.tenantId,
        connectionId: identity.connectionId,
        subject: identity.subject,
        email: identity.email ?? existing?.email,
        givenName: identity.givenName ?? existing?.givenName,
        surname: identity.surname ?? existing?.surname,
        role: existing?.role ?? defaultRole,
        createdAt: existing?.createdAt ?? at,
        updatedAt: at,
        lastLoginAt: at,
      };
      await store.set(keys.user(id), JSON.stringify(user));
      return { user, created };
    },
  };
}
