import { configPathFrom, loadConfigFile } from '@broker/config';
import { createMemoryStore, createRedisStore, type Store } from '@broker/store';
import { createLogger, type Logger } from '@broker/telemetry';
import { buildBrokerDeps, type BrokerDeps } from './broker.ts';
import { importIdpMetadata } from './metadata-import.ts';
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
  // Connections configured with idp.metadataUrl get their metadata now, once; a failure stops the start.
  const config = await importIdpMetadata(loadConfigFile(path, { env }), { logger });
  let store: Store;
  if (options.mode === 'split') {
    const url = env['REDIS_URL'];
    if (!url) throw new Error('REDIS_URL is required in split mode (e.g. redis://127.0.0.1:6379)');
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
  return { deps: await buildBrokerDeps({ config, store, logger, secrets }), logger, store };
}
