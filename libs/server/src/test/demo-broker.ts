// Test-only: the demo configuration's broker (portal, authn-service and token-service in one
// express app) on a free port, on real Redis under a key prefix, with the demo dev IdP in-process
// on another port, both rewritten to the real ports. Shared by the in-process integration suites.
import type { Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { loadConfigFile, type ResolvedConfig, type ResolvedConnection } from '@broker/config';
import { createDevIdp, loadDevIdpConfig, type DevIdpConfig } from '@broker/dev-idp';
import { createRedisStore, type Store } from '@broker/store';
import { createLogger } from '@broker/telemetry';
import { buildBrokerDeps, createBrokerApp } from '../broker.ts';
import { resolveSecrets } from '../secrets.ts';
import { closeServer, keysUnder, listenOnFreePort, type LogLine } from './broker-test-support.ts';

const DEMO = new URL('../../../../config/demo/', import.meta.url);
export const DEMO_CONNECTION = 'acme-dev-idp';

export interface DemoBroker {
  issuer: string;
  /** The dev IdP's base URL and its configuration (with the demo signing key). */
  idpBase: string;
  idpConfig: DevIdpConfig;
  /** The broker's log lines, parsed. */
  lines: LogLine[];
  store: Store;
  /** A second Redis connection for inspecting keys (under `prefix`). */
  admin: Redis;
  prefix: string;
  /** Start another dev IdP on a free port with this configuration; closed with the broker. */
  startIdp(config: DevIdpConfig): Promise<{ base: string }>;
  /** Close the servers and the store, and delete every key under the prefix. */
  close(): Promise<void>;
}

export interface DemoBrokerOptions {
  redisUrl: string;
  prefix: string;
  /** Change the demo connection further (its IdP already points at the in-process dev IdP). */
  connection?: (connection: ResolvedConnection, idpBase: string) => ResolvedConnection;
  /** Change the broker configuration further (after the connection). */
  configure?: (config: ResolvedConfig) => ResolvedConfig;
  /** Wrap the Redis store the broker uses (e.g. to count its calls); `store` stays the bare one. */
  wrapStore?: (store: Store) => Store;
}

export async function startDemoBroker(options: DemoBrokerOptions): Promise<DemoBroker> {
  const admin = new Redis(options.redisUrl, { maxRetriesPerRequest: 1 });
  const servers: Server[] = [];
  // Listen first: the issuer, the IdP's entity ID and every SAML URL name the real ports.
  const brokerListening = await listenOnFreePort();
  servers.push(brokerListening.server);
  const issuer = `http://localhost:${brokerListening.port}`;
  const quiet = createLogger({ service: 'dev-idp-test', level: 'silent' });
  const startIdp = async (config: DevIdpConfig) => {
    const listening = await listenOnFreePort('127.0.0.1');
    servers.push(listening.server);
    const base = `http://127.0.0.1:${listening.port}`;
    listening.server.on('request', createDevIdp({ config: { ...config, baseUrl: base }, logger: quiet }));
    return { base, server: listening.server };
  };

  const demoIdp = await loadDevIdpConfig(fileURLToPath(new URL('dev-idp.yaml', DEMO)));
  const idpListening = await listenOnFreePort('127.0.0.1');
  servers.push(idpListening.server);
  const idpBase = `http://127.0.0.1:${idpListening.port}`;
  const idpConfig: DevIdpConfig = {
    ...demoIdp,
    entityId: `${idpBase}/metadata`,
    baseUrl: idpBase,
    serviceProviders: [{ entityId: `${issuer}/saml/${DEMO_CONNECTION}/metadata`, acsUrls: [`${issuer}/saml/${DEMO_CONNECTION}/acs`] }],
  };
  idpListening.server.on('request', createDevIdp({ config: idpConfig, logger: quiet }));

  const demo = loadConfigFile(fileURLToPath(new URL('broker.yaml', DEMO)), { env: {} });
  const pointed = (connection: ResolvedConnection): ResolvedConnection => {
    const atIdp = { ...connection, idp: { ...connection.idp, entityId: `${idpBase}/metadata`, ssoUrl: `${idpBase}/sso` } };
    return options.connection ? options.connection(atIdp, idpBase) : atIdp;
  };
  const pointedConfig: ResolvedConfig = {
    ...demo,
    issuer,
    tenants: demo.tenants.map((tenant) => ({ ...tenant, connections: tenant.connections.map((c) => (c.id === DEMO_CONNECTION ? pointed(c) : c)) })),
  };
  const config = options.configure ? options.configure(pointedConfig) : pointedConfig;
  const lines: LogLine[] = [];
  const logger = createLogger({ service: 'broker-test', level: 'info', destination: { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) } });
  const store = createRedisStore({ url: options.redisUrl, keyPrefix: options.prefix });
  const secrets = await resolveSecrets(config, 'all-in-one', logger);
  const brokerStore = options.wrapStore ? options.wrapStore(store) : store;
  brokerListening.server.on('request', createBrokerApp(await buildBrokerDeps({ config, store: brokerStore, logger, secrets }), ['portal', 'authn', 'token']));

  return {
    issuer,
    idpBase,
    idpConfig,
    lines,
    store,
    admin,
    prefix: options.prefix,
    startIdp: async (idp) => ({ base: (await startIdp(idp)).base }),
    async close() {
      await Promise.all(servers.map((server) => closeServer(server)));
      await store.close();
      const left = await keysUnder(admin, options.prefix);
      if (left.size > 0) await admin.del(...[...left].map((key) => `${options.prefix}${key}`));
      await admin.quit();
    },
  };
}
