import { createHash, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
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
  /**
   * False only when `onlyIfMissing` found a configuration in the store and left it alone; then
   * nothing was written or removed.
   */
  applied: boolean;
  /** Keys written: each tenant and client record and its indexes. */
  written: number;
  /** Keys an earlier import wrote that this configuration no longer has, now deleted. */
  removed: string[];
}

export interface ApplyConfigurationOptions {
  /**
   * Import only when the store holds no configuration at all (`config:manifest` absent, as after
   * Redis lost its data), and leave any configuration there alone, even another file's: how a
   * running process restores what the store lost without undoing the import of a process started
   * after it (a rolling deploy). Default false: import whatever the store holds.
   */
  onlyIfMissing?: boolean;
}

/** How many times an import starts again when other imports keep committing first. */
const MAX_ATTEMPTS = 10;

/**
 * The one manifest entry that names no stored key: `{prefix}{digest}:{unique id}`. It makes every
 * import's manifest different from every other's, even for two files with the same keys, so that
 * the compare-and-set of the manifest notices any import that committed meanwhile. The manifest
 * stays a plain JSON array of keys because earlier versions of the broker read it as one (a
 * rollback, or an old process of a rolling deploy): to them this entry is one more key the file
 * no longer has, and deleting a key that does not exist changes nothing.
 */
const IMPORT_ENTRY_PREFIX = `${keys.configManifest()}:import:`;

/**
 * Make the store's tenants and clients those of the configuration: write each tenant and client
 * with its indexes (create or replace), then delete what an earlier import wrote and this
 * configuration no longer has (a tenant, connection, email domain, external id, client or CORS
 * origin taken out of the file), using the list of keys each import leaves behind
 * (`keys.configManifest`). Entries written by other means are never touched. Every client is
 * checked before anything is written: one breaking the rules stops the start (ClientRuleError,
 * every problem named) and changes nothing.
 *
 * Each process runs it at start; the configuration of the process that committed last is the one
 * in force: concurrent imports end as one whole file, not a mix, even of two files that differ
 * only in values. Other processes see a change within `cache.directoryTtlSeconds`. Throws after
 * 10 attempts each overtaken by another import (the store may then hold a mix until the next
 * import), or when a write fails.
 */
export async function applyConfiguration(
  store: Store,
  config: Pick<ResolvedConfig, 'tenants' | 'clients' | 'development'>,
  options: ApplyConfigurationOptions = {},
): Promise<ConfigurationImport> {
  const clients = config.clients.map(clientRecordFromConfig);
  for (const client of clients) {
    const problems = clientProblems(client, { development: config.development });
    if (problems.length) throw new ClientRuleError(client.clientId, problems);
  }
  const entries = [...config.tenants.flatMap(tenantEntries), ...clients.flatMap(clientEntries)];
  const current = new Set(entries.map(([key]) => key));
  const digest = digestOf(entries);
  const manifest = JSON.stringify([...[...current].sort(), `${IMPORT_ENTRY_PREFIX}${digest}:${randomUUID()}`]);
  // Read before writing, and replace the manifest only over what was read. An import commits
  // only when no other import committed between its read and its commit; one whose writes may
  // have landed on another's committed file (its read came before that commit) fails its
  // compare-and-set and writes the whole of its own file again. So nothing is left over the file
  // of the import that commits last: the store ends as that file exactly.
  let previous = await store.get(keys.configManifest());
  if (options.onlyIfMissing && previous !== null) return { applied: false, written: 0, removed: [] };
  for (let attempt = 1; ; attempt++) {
    await writeAll(store, entries);
    const removed = manifestKeys(previous).filter((key) => !current.has(key));
    if (removed.length) await store.delete(...removed);
    if (await store.compareAndSet(keys.configManifest(), previous, manifest)) return { applied: true, written: entries.length, removed };
    previous = await store.get(keys.configManifest());
    // The import that overtook this one had the same keys and values: whatever of this import
    // landed after it wrote the same values and deleted only keys that file does not have, so
    // the store is that file, which is this one. (Many processes restarting or restoring with
    // one file at once end here instead of taking turns.)
    if (previous !== null && manifestDigest(previous) === digest) return { applied: true, written: entries.length, removed };
    // Even with onlyIfMissing: this import's writes may have landed over the other file's, so
    // only writing the whole of this one again leaves one whole file.
    if (attempt === MAX_ATTEMPTS) {
      throw new Error(
        `configuration import: overtaken by other processes' imports ${MAX_ATTEMPTS} times in a row; the store may hold a mix of configuration files until the next import (restart this process)`,
      );
    }
    // A random pause, growing with each attempt, so that imports that keep colliding spread out.
    await sleep(Math.random() * 20 * attempt);
  }
}

/**
 * Write every entry, waiting for each write to end before reporting a failure: a write still in
 * flight when this import gave up could land after another import committed, leaving a mix that
 * no compare-and-set would ever notice.
 */
async function writeAll(store: Store, entries: ReadonlyArray<readonly [string, string]>): Promise<void> {
  const results = await Promise.allSettled(entries.map(([key, value]) => store.set(key, value)));
  const failed = results.find((result) => result.status === 'rejected');
  if (failed) throw failed.reason instanceof Error ? failed.reason : new Error(`configuration import: a write failed: ${String(failed.reason)}`);
}

/** SHA-256 of every key and value, in key order: equal exactly when two files give the same records. */
function digestOf(entries: ReadonlyArray<readonly [string, string]>): string {
  const sorted = [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return createHash('sha256').update(JSON.stringify(sorted)).digest('hex');
}

/** The entries of a stored manifest; a manifest that is not a JSON array counts as none. */
function manifestEntries(value: string | null): string[] {
  if (value === null) return [];
  try {
    const parsed: unknown = JSON.parse(value);
    return Array.isArray(parsed) ? parsed.filter((entry): entry is string => typeof entry === 'string') : [];
  } catch {
    return [];
  }
}

/** The keys of a stored manifest (neither the manifest itself nor the import entry). */
function manifestKeys(value: string | null): string[] {
  return manifestEntries(value).filter((key) => key !== keys.configManifest() && !key.startsWith(IMPORT_ENTRY_PREFIX));
}

/** The digest of the import that left this manifest; undefined for a manifest of an earlier version. */
function manifestDigest(value: string): string | undefined {
  const entry = manifestEntries(value).find((key) => key.startsWith(IMPORT_ENTRY_PREFIX));
  return entry?.slice(IMPORT_ENTRY_PREFIX.length).split(':')[0];
}
