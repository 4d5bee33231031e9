import type { ResolvedConnection, ResolvedTenant } from '@broker/config';
import { keys, type Store } from '@broker/store';
import { createReadCache } from './read-cache.ts';

/** Tenants and their IdP connections, in the store, looked up by id, domain, external id or email. */
export interface Directory {
  tenant(tenantId: string): Promise<ResolvedTenant | undefined>;
  /** The tenant owning the domain of an email address (home-realm discovery). */
  tenantForEmail(email: string): Promise<ResolvedTenant | undefined>;
  /** The tenant known to other systems by this organization or customer id (login links). */
  tenantByExternalId(kind: 'organization' | 'customer', value: string): Promise<ResolvedTenant | undefined>;
  /** A connection and the tenant it belongs to. */
  connection(connectionId: string): Promise<{ tenant: ResolvedTenant; connection: ResolvedConnection } | undefined>;
}

/** The domain of an email address, lowercased; undefined when it is not an email address. */
export function emailDomain(email: string): string | undefined {
  const at = email.lastIndexOf('@');
  if (at < 1 || at === email.length - 1) return undefined;
  const domain = email.slice(at + 1).trim().toLowerCase();
  return /^[a-z0-9.-]+\.[a-z]{2,}$/.test(domain) ? domain : undefined;
}

/** The directory with the writes that go through it. */
export interface DirectoryStore extends Directory {
  /**
   * Import tenants (see importTenants) and forget this directory's cached reads, so that its next
   * reads see the import.
   */
  importTenants(tenants: readonly ResolvedTenant[]): Promise<void>;
}

export interface DirectoryOptions {
  /**
   * How long a record read from the store is reused by this directory, in ms (default 0: every
   * lookup reads the store). Writes through `importTenants` of this directory are seen at once;
   * writes by other processes (or by the free function importTenants) after at most this long.
   */
  cacheTtlMs?: number;
}

/** The directory over the store. */
export function createDirectory(store: Store, options: DirectoryOptions = {}): DirectoryStore {
  const cache = createReadCache({ ttlMs: options.cacheTtlMs ?? 0 });
  const read = (key: string): Promise<string | null> => cache.read(key, () => store.get(key));
  const tenant = async (tenantId: string): Promise<ResolvedTenant | undefined> => {
    const value = await read(keys.tenant(tenantId));
    return value === null ? undefined : (JSON.parse(value) as ResolvedTenant);
  };
  const via = async (indexKey: string) => {
    const id = await read(indexKey);
    return id === null ? undefined : tenant(id);
  };
  return {
    tenant,
    tenantForEmail: async (email) => {
      const domain = emailDomain(email);
      return domain === undefined ? undefined : via(keys.tenantByDomain(domain));
    },
    tenantByExternalId: (kind, value) => via(keys.tenantByExternalId(kind, value)),
    connection: async (connectionId) => {
      const found = await via(keys.tenantByConnection(connectionId));
      const connection = found?.connections.find((c) => c.id === connectionId);
      return found && connection ? { tenant: found, connection } : undefined;
    },
    async importTenants(tenants) {
      try {
        await importTenants(store, tenants);
      } finally {
        // Also after a failed import: some of it may have been written.
        cache.clear();
      }
    },
  };
}

/**
 * Import the configuration's tenants into the store: idempotent, so configuration can live in
 * git and be applied at every start. (Tenants removed from the file stay until removed through
 * the admin API, which is yet to come.) A directory's own `importTenants` also forgets its cached
 * reads; this one does not know of any directory.
 */
export async function importTenants(store: Store, tenants: readonly ResolvedTenant[]): Promise<void> {
  for (const tenant of tenants) {
    await store.set(keys.tenant(tenant.id), JSON.stringify(tenant));
    const indexes = [
      ...tenant.emailDomains.map((domain) => keys.tenantByDomain(domain)),
      ...tenant.connections.map((connection) => keys.tenantByConnection(connection.id)),
      ...(tenant.externalIds.organization ? [keys.tenantByExternalId('organization', tenant.externalIds.organization)] : []),
      ...(tenant.externalIds.customer ? [keys.tenantByExternalId('customer', tenant.externalIds.customer)] : []),
    ];
    await Promise.all(indexes.map((key) => store.set(key, tenant.id)));
  }
}
