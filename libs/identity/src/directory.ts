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

export interface DirectoryOptions {
  /**
   * How long a record read from the store is reused by this directory, in ms (default 0: every
   * lookup reads the store). Writes (the configuration import at start, other processes) are
   * seen after at most this long.
   */
  cacheTtlMs?: number;
}

/** The directory over the store. */
export function createDirectory(store: Store, options: DirectoryOptions = {}): Directory {
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
  };
}

/**
 * What the store holds for a tenant: its record and the indexes that lead to it (email domains,
 * connections, external ids), as [key, value] pairs.
 */
export function tenantEntries(tenant: ResolvedTenant): Array<[string, string]> {
  return [
    [keys.tenant(tenant.id), JSON.stringify(tenant)],
    ...tenant.emailDomains.map((domain): [string, string] => [keys.tenantByDomain(domain), tenant.id]),
    ...tenant.connections.map((connection): [string, string] => [keys.tenantByConnection(connection.id), tenant.id]),
    ...(tenant.externalIds.organization ? [[keys.tenantByExternalId('organization', tenant.externalIds.organization), tenant.id] as [string, string]] : []),
    ...(tenant.externalIds.customer ? [[keys.tenantByExternalId('customer', tenant.externalIds.customer), tenant.id] as [string, string]] : []),
  ];
}

/**
 * Write tenants with their indexes into the store (create or replace), for tests and tools.
 * Entries of earlier versions that these no longer have are left: the broker applies its
 * configuration with `applyConfiguration` (@broker/server), which removes those. Directories
 * already reading see the write after their cache TTL.
 */
export async function importTenants(store: Store, tenants: readonly ResolvedTenant[]): Promise<void> {
  await Promise.all(tenants.flatMap(tenantEntries).map(([key, value]) => store.set(key, value)));
}
