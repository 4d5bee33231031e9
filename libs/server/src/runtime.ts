import { ConfigError, configPathFrom, loadConfigFile } from '@broker/config';
import { createMemoryStore, createRedisStore, type Store } from '@broker/store';
import { createLogger, type Logger } from '@broker/telemetry';
import { buildBrokerDeps, type BrokerDeps } from './broker.ts';
import { importIdpMetadata } from './metadata-import.ts';
import { productionProblems } from './production-checks.ts';
import { resolveSecrets, type RunMode } from './secrets.ts';

export interface StartOptions {
  service: string;
  mode: RunMode;
  argv?: readonly string[];
  env?: NodeJS.ProcessEnv;
  /** Configuration file used when neither --config nor BROKER_CONFIG names one. */
  defaultConfigPath?: string;
}

/**
 * Read the configuration (fetching IdP metadata from metadata URLs), open the store for the mode
 * (split: Redis from REDIS_URL, required; all-in-one: the in-memory store) and build the
 * broker's dependencies.
 */
export async function startBrokerRuntime(options: StartOptions): Promise<{ deps: BrokerDeps; logger: Logger; store: Store }> {
  const env = options.env ?? process.env;
  const logger = createLogger({ service: options.service });
  const path = configPathFrom(options.argv ?? process.argv.slice(2), env, options.defaultConfigPath);
  if (!path) throw new Error('no configuration: pass --config <file> or set BROKER_CONFIG');
  const loaded = loadConfigFile(path, { env });
  if (options.mode === 'split') {
    // Split mode is production: development: true is for local runs and tests only.
    if (loaded.development) {
      logger.warn({ config: path }, 'development: true in split mode: http redirect URIs allowed and production checks off; never in production');
    } else {
      const problems = productionProblems(loaded);
      if (problems.length) throw new ConfigError(`not a production configuration (development is off) in ${path}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    }
  }
  // Connections configured with idp.metadataUrl get their metadata now, once; a failure stops the start.
  const config = await importIdpMetadata(loaded, { logger });
  let store: Store;
  if (options.mode === 'split') {
    const url = env['REDIS_URL'];
    if (!url) throw new Error('REDIS_URL is required in split mode (e.g. redis://127.0.0.1:6379)');
    // A malformed URL would reach ioredis as a socket path, and its errors (logged at every
    // retry) would quote it, password included.
    if (!/^rediss?:\/\/[^\s]+$/.test(url) || !URL.canParse(url)) throw new Error('REDIS_URL must be a redis:// or rediss:// URL');
    store = createRedisStore({
      url,
      keyPrefix: env['REDIS_KEY_PREFIX'] ?? 'broker:',
      onConnectionError: (error) => logger.error({ err: error.message }, 'Redis connection error'),
    });
    await store.ping();
  } else {
    store = createMemoryStore();
  }
  const secrets = await resolveSecrets(config, options.mode, logger);
  logger.info({ config: path, mode: options.mode, tenants: config.tenants.length, clients: config.clients.length }, 'configuration loaded');
  // The embedded store cannot lose the configuration behind the process's back: no periodic check.
  return { deps: await buildBrokerDeps({ config, store, logger, secrets, ...(options.mode === 'split' ? {} : { configurationCheckMs: 0 }) }), logger, store };
}
