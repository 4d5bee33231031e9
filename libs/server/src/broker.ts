import express, { type Express } from 'express';
import type { ResolvedConfig } from '@broker/config';
import { createAuthnRouter } from '@broker/authn';
import { errorHandler, healthRoutes, notFound, publicOrigin, requestId, securityHeaders } from '@broker/http';
import {
  createClientRegistry,
  createDirectory,
  createLoginHandoff,
  createUserRepository,
  isEmailVerified,
  type ClientRegistry,
  type Directory,
  type LoginHandoff,
  type UserRepository,
} from '@broker/identity';
import { createPrefetchingStore, createProvider, endSessionsOf, type Provider } from '@broker/oidc';
import { createAuthPortalRouter } from '@broker/portal';
import { createSamlDiagnostics, createSamlServiceProvider, type SamlDiagnostics, type SamlServiceProvider } from '@broker/saml';
import { keys, type Store } from '@broker/store';
import type { Logger } from '@broker/telemetry';
import { createTokenServiceRouter } from '@broker/token';
import { applyConfiguration } from './configuration-import.ts';
import type { BrokerSecrets } from './secrets.ts';

/** Everything the broker's apps are built from. */
export interface BrokerDeps {
  config: ResolvedConfig;
  store: Store;
  logger: Logger;
  /** Tenants and connections, reads cached for `cache.directoryTtlSeconds`. */
  directory: Directory;
  /** The client registry, reads cached for `cache.directoryTtlSeconds`. */
  clients: ClientRegistry;
  handoff: LoginHandoff;
  users: UserRepository;
  provider: Provider;
  serviceProvider: SamlServiceProvider;
  /** Recent rejected SAML responses per connection (GET /saml/:connectionId/diagnostics). */
  diagnostics: SamlDiagnostics;
  /** Keeps this process's configuration in the store when the store loses it (readiness uses it). */
  configurationGuard: ConfigurationGuard;
}

/**
 * Restores the configuration's tenants and clients when the store has lost them (Redis restarted
 * without persistence, failed over to an empty replica, evicted keys): they are written only at
 * start, and without them every login fails ("unknown organization", invalid_client).
 */
export interface ConfigurationGuard {
  /**
   * Resolves when the store holds a configuration (`config:manifest`), re-applying this
   * process's one first when it holds none; rejects when the store cannot be read or the
   * configuration cannot be written. A configuration that is there is left alone, even another
   * file's: a newer process of a rolling deploy imported it.
   */
  ensurePresent(): Promise<void>;
  /** Stop the periodic check. */
  stop(): void;
}

/** How often, by default, each process checks that the configuration is still in the store. */
const DEFAULT_CONFIGURATION_CHECK_MS = 5000;

/**
 * Build the shared dependencies once per process, applying the configuration's tenants and
 * clients to the store first (applyConfiguration), and keeping them there should the store lose
 * them (ConfigurationGuard).
 */
export async function buildBrokerDeps(options: {
  config: ResolvedConfig;
  store: Store;
  logger: Logger;
  secrets: BrokerSecrets;
  /**
   * How often to check (one GET) that the configuration is still in the store and re-apply it
   * when it is gone, in ms; 0: only when readiness is probed. Default 5000.
   */
  configurationCheckMs?: number;
}): Promise<BrokerDeps> {
  const { config, store, logger, secrets } = options;
  // Every service reuses tenant, connection and client records for cache.directoryTtlSeconds: a
  // login reads each of them from the store once per process instead of several times. Writes
  // through these objects are seen at once in this process; other processes' writes after at
  // most the TTL (a connection's pinned certificates included: removing a certificate takes
  // effect everywhere within that time).
  const cacheTtlMs = config.cache.directoryTtlSeconds * 1000;
  const imported = await applyConfiguration(store, config);
  if (imported.removed.length) logger.info({ removed: imported.removed }, 'configuration import removed entries the configuration no longer has');
  const directory = createDirectory(store, { cacheTtlMs });
  const clients = createClientRegistry(store, { development: config.development, cacheTtlMs });
  // oidc-provider and the user records it asks for share one store view that can read ahead
  // within a request (a token's session, grant and user at once: createPrefetchingStore).
  const oidcStore = createPrefetchingStore(store);
  const users = createUserRepository(oidcStore);
  const provider = createProvider({
    config,
    store: oidcStore,
    logger: logger.child({ component: 'oidc' }),
    signingKeys: secrets.signingKeys,
    cookieKeys: secrets.cookieKeys,
    findClient: (clientId) => clients.find(clientId),
    resourceServers: config.resourceServers,
    development: config.development,
    findAccount: async (sub) => {
      const user = await users.findById(sub);
      // A tenant taken out of the configuration takes its users' sessions and grants with it.
      const tenant = user && (await directory.tenant(user.tenantId));
      if (!user || !tenant) return undefined;
      const name = [user.givenName, user.surname].filter(Boolean).join(' ') || undefined;
      return {
        sub: user.id,
        email: user.email,
        email_verified: isEmailVerified(user, tenant),
        name,
        given_name: user.givenName,
        family_name: user.surname,
        tenant: user.tenantId,
        role: user.role,
      };
    },
  });
  const serviceProvider = createSamlServiceProvider({
    issuer: config.issuer,
    store,
    requestTtlSeconds: config.ttl.interaction,
  });
  // Fail at start, not at the first login, when a connection's IdP settings are incomplete.
  for (const tenant of config.tenants) for (const connection of tenant.connections) serviceProvider.idpSettings(connection);
  const configurationGuard = guardConfiguration({ store, config, logger, intervalMs: options.configurationCheckMs ?? DEFAULT_CONFIGURATION_CHECK_MS });
  return {
    config,
    store,
    logger,
    directory,
    clients,
    handoff: createLoginHandoff(store, config.ttl.interaction),
    users,
    provider,
    serviceProvider,
    diagnostics: createSamlDiagnostics({ store }),
    configurationGuard,
  };
}

/**
 * Check on a timer (and whenever readiness is probed) that the store still holds a configuration,
 * and re-apply this process's when it holds none. Only an absent manifest triggers it: a
 * different one is a newer process's import, which this process must not undo.
 */
function guardConfiguration(options: { store: Store; config: ResolvedConfig; logger: Logger; intervalMs: number }): ConfigurationGuard {
  const { store, config, logger, intervalMs } = options;
  // One restore at a time per process: the timer and readiness probes share it.
  let restoring: Promise<void> | undefined;
  const restore = (): Promise<void> =>
    (restoring ??= applyConfiguration(store, config, { onlyIfMissing: true })
      .then(
        (imported) => {
          if (imported.applied) logger.warn({ written: imported.written }, 'the configuration was missing from the store (did Redis lose its data?): re-applied it');
        },
        (error: unknown) => {
          logger.error({ err: error instanceof Error ? error.message : String(error) }, 'the configuration is missing from the store and re-applying it failed');
          throw error;
        },
      )
      .finally(() => {
        restoring = undefined;
      }));
  const ensurePresent = async (): Promise<void> => {
    if ((await store.get(keys.configManifest())) === null) await restore();
  };
  const timer =
    intervalMs > 0
      ? setInterval(() => {
          // An unreachable store, or a failed restore: readiness, the restore's own log line and
          // the store's connection log report them.
          ensurePresent().catch(() => undefined);
          // unref: the check must never keep a process (or a test worker) alive on its own.
        }, intervalMs).unref()
      : undefined;
  return { ensurePresent, stop: () => clearInterval(timer) };
}

export type BrokerPart = 'portal' | 'authn' | 'token';

/**
 * One express app serving some of the broker's parts: each split-mode process serves one; the
 * all-in-one process serves all three on one origin.
 */
export function createBrokerApp(deps: BrokerDeps, parts: readonly BrokerPart[]): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', 'loopback');
  // The public origin is the issuer's, never what a request's headers claim (publicOrigin).
  app.use(
    requestId(),
    publicOrigin(deps.config.issuer),
    securityHeaders({ hsts: deps.config.issuer.startsWith('https:') }),
    healthRoutes(async () => {
      // Ready only with a configuration in the store (restored first when it is gone): without
      // one every login fails, however well Redis answers.
      // Its read of the configuration is also the check that the store answers.
      await deps.configurationGuard.ensurePresent();
    }),
  );
  if (parts.includes('token')) app.use(createTokenServiceRouter({ provider: deps.provider, isCorsOrigin: (origin) => deps.clients.isCorsOrigin(origin) }));
  if (parts.includes('authn')) {
    app.use(
      createAuthnRouter({
        config: deps.config,
        directory: deps.directory,
        clients: deps.clients,
        handoff: deps.handoff,
        users: deps.users,
        endSessions: (userId) => endSessionsOf(deps.store, userId),
        serviceProvider: deps.serviceProvider,
        diagnostics: deps.diagnostics,
        logger: deps.logger.child({ component: 'authn' }),
      }),
    );
  }
  if (parts.includes('portal')) {
    app.use(
      createAuthPortalRouter({
        provider: deps.provider,
        directory: deps.directory,
        clients: deps.clients,
        handoff: deps.handoff,
        logger: deps.logger.child({ component: 'portal' }),
        secureCookies: deps.config.issuer.startsWith('https:'),
        loginTtlSeconds: deps.config.ttl.interaction,
      }),
    );
  }
  app.use((req, _res, next) => next(notFound('http.not_found', 'This page does not exist.', { method: req.method, path: req.path })));
  app.use(errorHandler(deps.logger));
  return app;
}
