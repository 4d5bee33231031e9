import type { ResolvedClient, ResolvedConfig } from '@broker/config';
import { clientEntries, clientProblems, ClientRuleError, tenantEntries, type ClientRecord } from '@broker/identity';
import { keys, type Store } from '@broker/store';

/** A configured client as a registry record, with the defaults of docs/configuration.md applied. */
export function clientRecordFromConfig(client: ResolvedClient): ClientRecord {
  return {
    clientId: client.clientId,
    displayName: client.displayName,
    kind: client.kind,
    tokenEndpointAuthMethod: client.tokenEndpointAuthMethod ?? (client.kind === 'backend' ? 'client_secret_basic' : 'none'),
    clientSecret: client.clientSecret,
    jwks: client.jwks,
    redirectUris: client.redirectUris,
    postLogoutRedirectUris: client.postLogoutRedirectUris,
    corsOrigins: client.corsOrigins,
    allowedTenants: client.allowedTenants,
    firstParty: client.firstParty,
    initiateLoginUri: client.initiateLoginUri,
    idTokenSignedResponseAlg: client.idTokenSignedResponseAlg,
    refreshTokens: client.refreshTokens,
    ttl: client.ttl,
  };
}

/** What a configuration import changed in the store. */
export interface ConfigurationImport {
  /** Keys written: each tenant and client record and its indexes. */
  written: number;
  /** Keys an earlier import wrote that this configuration no longer has, now deleted. */
  removed: string[];
}

/**
 * Make the store's tenants and clients those of the configuration: write each tenant and client
 * with its indexes (create or replace), then delete what an earlier import wrote and this
 * configuration no longer has (a tenant, connection, email domain, external id, client or CORS
 * origin taken out of the file), using the list of keys each import leaves behind
 * (`keys.configManifest`). Entries written by other means are never touched. Every client is
 * checked before anything is written: one breaking the rules stops the start (ClientRuleError,
 * every problem named) and changes nothing.
 *
 * Each process runs it at start; the configuration of the process that started last is the one in
 * force (concurrent imports end as one whole file, not a mix). Other processes see a change within
 * `cache.directoryTtlSeconds`.
 */
export async function applyConfiguration(store: Store, config: Pick<ResolvedConfig, 'tenants' | 'clients' | 'development'>): Promise<ConfigurationImport> {
  const clients = config.clients.map(clientRecordFromConfig);
  for (const client of clients) {
    const problems = clientProblems(client, { development: config.development });
    if (problems.length) throw new ClientRuleError(client.clientId, problems);
  }
  const entries = [...config.tenants.flatMap(tenantEntries), ...clients.flatMap(clientEntries)];
  const current = new Set(entries.map(([key]) => key));
  const manifest = JSON.stringify([...current].sort());
  // The manifest is replaced only over the one this import read: when another process imported
  // meanwhile (it may have deleted some of these keys, or written keys this file lacks), this
  // import starts again from the manifest that one left, so the store ends as one whole file.
  for (let attempt = 0; attempt < 5; attempt++) {
    await Promise.all(entries.map(([key, value]) => store.set(key, value)));
    const previous = await store.get(keys.configManifest());
    const removed = manifestKeys(previous).filter((key) => !current.has(key));
    if (removed.length) await store.delete(...removed);
    if (await store.compareAndSet(keys.configManifest(), previous, manifest)) return { written: entries.length, removed };
  }
  throw new Error('configuration import: other processes kept importing at the same time (5 attempts)');
}

/** The keys of a stored manifest; a manifest that is not a list of keys counts as none. */
function manifestKeys(value: string | null): string[] {
  if (value === null) return [];
  try {
    const parsed: unknown = JSON.parse(value);
    return Array.isArray(parsed) ? parsed.filter((key): key is string => typeof key === 'string' && key !== keys.configManifest()) : [];
  } catch {
    return [];
  }
}
