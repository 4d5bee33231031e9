// In-process integration on a real Redis: when Redis loses the broker's data (a restart without
// persistence, a failover to an empty replica), the configuration's tenants, connections and
// clients are gone and every login fails. A running broker notices (on /readyz, and on its
// periodic check) and writes its configuration again, with a warning in its log, so that logins
// work again without a restart; while it cannot, /readyz says not ready. A configuration that
// another process imported is left alone (a newer process of a rolling deploy).
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfigFile, type ResolvedConfig } from '@broker/config';
import { createRedisStore, keys, type Store } from '@broker/store';
import { redisTestSupport } from '@broker/store/testing';
import { createLogger } from '@broker/telemetry';
import { TestBrowser } from '@broker/testing';
import { buildBrokerDeps, createBrokerApp, type BrokerDeps } from './broker.ts';
import { applyConfiguration } from './configuration-import.ts';
import { resolveSecrets } from './secrets.ts';
import { authorizeUrl, closeServer, listenOnFreePort, type LogLine } from './test/broker-test-support.ts';

const { redisAvailable, redisTestUrl, skipRedisTests, useRedisPrefix, deleteKeysUnder } = redisTestSupport;
const url = redisTestUrl();
const available = await redisAvailable(url);

const demo = loadConfigFile(fileURLToPath(new URL('../../../config/demo/broker.yaml', import.meta.url)), { env: {} });
const CLIENT = { id: 'demo-native', redirectUri: 'http://127.0.0.1/callback' };
const WARN = 40;

interface Broker {
  issuer: string;
  prefix: string;
  deps: BrokerDeps;
  lines: LogLine[];
  close(): Promise<void>;
}

/** Poll `condition` every 25 ms for up to `ms`. */
async function eventually(condition: () => Promise<boolean>, ms = 3000): Promise<boolean> {
  const until = Date.now() + ms;
  for (;;) {
    if (await condition()) return true;
    if (Date.now() > until) return false;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe.skipIf(skipRedisTests(available, url))('the configuration after Redis lost it', () => {
  const base = useRedisPrefix(url, available, 'config-restore');
  let admin: Redis;
  const running: Broker[] = [];
  beforeAll(() => {
    admin = new Redis(url, { maxRetriesPerRequest: 1 });
  });
  afterAll(async () => {
    // Every broker stops before the prefix is cleaned up, or its check could write its
    // configuration back afterwards.
    await Promise.allSettled(running.map((broker) => broker.close()));
    await admin.quit();
  });

  /** The demo broker (all three parts) on its own key prefix; `wrapStore` stands between it and Redis. */
  async function startBroker(options: { configurationCheckMs: number; wrapStore?: (store: Store) => Store }): Promise<Broker> {
    const prefix = `${base}${randomUUID()}:`;
    const { server, port } = await listenOnFreePort('127.0.0.1');
    const issuer = `http://127.0.0.1:${port}`;
    // No read cache: a test sees the store as it is at each request, not as it was up to 5 s ago.
    const config: ResolvedConfig = { ...demo, issuer, cache: { directoryTtlSeconds: 0 } };
    const lines: LogLine[] = [];
    const logger = createLogger({ service: 'config-restore-test', level: 'info', destination: { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) } });
    const redisStore = createRedisStore({ url, keyPrefix: prefix });
    const store = options.wrapStore ? options.wrapStore(redisStore) : redisStore;
    const deps = await buildBrokerDeps({ config, store, logger, secrets: await resolveSecrets(config, 'all-in-one', logger), configurationCheckMs: options.configurationCheckMs });
    server.on('request', createBrokerApp(deps, ['portal', 'authn', 'token']));
    const broker: Broker = {
      issuer,
      prefix,
      deps,
      lines,
      async close() {
        deps.configurationGuard.stop();
        await closeServer(server);
        await redisStore.close();
      },
    };
    running.push(broker);
    return broker;
  }

  /**
   * Start a login of demo-native for Acme in a new browser and follow the broker's redirects: the
   * URL it sends the browser to at the IdP, or the status of the page it stopped at.
   */
  async function startLogin(broker: Broker): Promise<{ idp?: string; status: number }> {
    const browser = new TestBrowser();
    let page = await browser.get(authorizeUrl(broker.issuer, CLIENT, { tenant: 'acme' }));
    while (page.location?.startsWith(broker.issuer)) page = await browser.get(page.location);
    return { idp: page.location, status: page.status };
  }
  const idpSso = demo.tenants[0]?.connections[0]?.idp.ssoUrl ?? '';
  const readyz = async (broker: Broker) => {
    const reply = await fetch(`${broker.issuer}/readyz`);
    return `${reply.status} ${await reply.text()}`;
  };
  const restoredLines = (broker: Broker) => broker.lines.filter((line) => line.level === WARN && line.msg.includes('re-applied'));
  /** Redis restarted empty, for this broker's keys. */
  const loseEverything = (broker: Broker) => deleteKeysUnder(admin, broker.prefix);

  it('readiness restores it, and a login starts again without a restart', async () => {
    const broker = await startBroker({ configurationCheckMs: 0 });
    expect((await startLogin(broker)).idp).toContain(idpSso);

    await loseEverything(broker);
    // What the reviewer saw: the client is unknown, no login can start.
    const refused = await startLogin(broker);
    expect(refused.idp).toBeUndefined();
    expect(refused.status).toBe(400);

    expect(await readyz(broker)).toBe('200 ready');
    expect((await startLogin(broker)).idp).toContain(idpSso);
    expect(restoredLines(broker)).toHaveLength(1);
  });

  it('the periodic check restores it with no request at all', async () => {
    const broker = await startBroker({ configurationCheckMs: 100 });
    await loseEverything(broker);
    expect(await eventually(async () => (await startLogin(broker)).idp?.includes(idpSso) === true)).toBe(true);
    expect(restoredLines(broker)).toHaveLength(1);
  });

  it('readiness says not ready while the configuration cannot be written back', async () => {
    let full = false;
    // Redis at maxmemory with noeviction refuses writes.
    const refusingWrites = (store: Store): Store => ({
      ...store,
      set: (key, value, options) => (full ? Promise.reject(new Error('OOM command not allowed when used memory > maxmemory')) : store.set(key, value, options)),
    });
    const broker = await startBroker({ configurationCheckMs: 0, wrapStore: refusingWrites });
    expect(await readyz(broker)).toBe('200 ready');

    await loseEverything(broker);
    full = true;
    expect(await readyz(broker)).toBe('503 not ready');
    expect(broker.lines.some((line) => line.msg.includes('re-applying it failed'))).toBe(true);
    expect(await admin.get(`${broker.prefix}${keys.configManifest()}`)).toBeNull();

    full = false;
    expect(await readyz(broker)).toBe('200 ready');
    expect((await startLogin(broker)).idp).toContain(idpSso);
  });

  it('leaves alone a configuration another process imported', async () => {
    const broker = await startBroker({ configurationCheckMs: 50 });
    // A newer process of a rolling deploy, with Acme renamed.
    const newer: ResolvedConfig = { ...demo, tenants: demo.tenants.map((t) => ({ ...t, displayName: 'Acme, renamed' })) };
    const newerStore = createRedisStore({ url, keyPrefix: broker.prefix });
    await applyConfiguration(newerStore, newer);
    await newerStore.close();
    const manifest = await admin.get(`${broker.prefix}${keys.configManifest()}`);

    expect(await readyz(broker)).toBe('200 ready');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await admin.get(`${broker.prefix}${keys.configManifest()}`)).toBe(manifest);
    expect(JSON.parse((await admin.get(`${broker.prefix}${keys.tenant('acme')}`)) ?? '{}')).toMatchObject({ displayName: 'Acme, renamed' });
    expect(restoredLines(broker)).toEqual([]);
  });
});
