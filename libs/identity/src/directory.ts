import type { ResolvedConfig, ResolvedConnection, ResolvedTenant } from '@broker/config';

/** Tenants and their IdP connections, looked up by id, domain or email. (Clients: ClientRegistry.) */
export interface Directory {
  tenant(tenantId: string): ResolvedTenant | undefined;
  /** The tenant owning the domain of an email address (home-realm discovery). */
  tenantForEmail(email: string): ResolvedTenant | undefined;
  /** A connection and the tenant it belongs to. */
  connection(connectionId: string): { tenant: ResolvedTenant; connection: ResolvedConnection } | undefined;
  tenants(): readonly ResolvedTenant[];
}

/** The domain of an email address, lowercased; undefined when it is not an email address. */
export function emailDomain(email: string): string | undefined {
  const at = email.lastIndexOf('@');
  if (at < 1 || at === email.length - 1) return undefined;
  const domain = email.slice(at + 1).trim().toLowerCase();
  return /^[a-z0-9.-]+\.[a-z]{2,}$/.test(domain) ? domain : undefined;
}

/** A directory over the configuration file's tenants (read-only). */
export function createDirectory(config: ResolvedConfig): Directory {
  const tenants = new Map(config.tenants.map((t) => [t.id, t]));
  const byDomain = new Map(config.tenants.flatMap((t) => t.emailDomains.map((d) => [d, t] as const)));
  const connections = new Map(config.tenants.flatMap((tenant) => tenant.connections.map((connection) => [connection.id, { tenant, connection }] as const)));
  return {
    tenant: (id) => tenants.get(id),
    tenantForEmail: (email) => {
      const domain = emailDomain(email);
      return domain === undefined ? undefined : byDomain.get(domain);
    },
    connection: (id) => connections.get(id),
    tenants: () => config.tenants,
  };
}
