import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, readdirSync, readFileSync, rmSync, type WriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BrokerConfigInput } from '@broker/config';
import { generateSigningJwks, type SigningJwks } from '@broker/oidc';

/**
 * The broker in split mode as separate processes, for end-to-end tests and local runs: the
 * auth-portal, authn-service and token-service (sharing one Redis), the dev IdP, and the dev
 * proxy as the single public origin (the issuer). Each process is started exactly as in
 * production, `tsx apps/<name>/src/main.ts`, from a generated configuration.
 */

export type SplitProcessName = 'auth-portal' | 'authn-service' | 'token-service' | 'dev-idp' | 'dev-proxy';
export const SPLIT_PROCESS_NAMES: readonly SplitProcessName[] = ['auth-portal', 'authn-service', 'token-service', 'dev-idp', 'dev-proxy'];

/** A client entry of the broker configuration file, as written. */
export type SplitClusterClient = BrokerConfigInput['clients'][number];
/** A resource server entry of the broker configuration file, as written. */
export type SplitClusterResourceServer = NonNullable<BrokerConfigInput['resourceServers']>[number];
/** The three broker processes (they read the broker configuration; the dev IdP and proxy do not). */
export type BrokerProcessName = 'auth-portal' | 'authn-service' | 'token-service';
export const BROKER_PROCESS_NAMES: readonly BrokerProcessName[] = ['auth-portal', 'authn-service', 'token-service'];

export interface SplitClusterPorts {
  /** The dev proxy: the public origin and issuer `http://localhost:<proxy>`. */
  proxy: number;
  portal: number;
  authn: number;
  token: number;
  /** The dev IdP, `http://localhost:<idp>`. */
  idp: number;
}

export interface SplitClusterOptions {
  redisUrl: string;
  /** REDIS_KEY_PREFIX of the three broker processes; delete `<keyPrefix>*` after the run. */
  keyPrefix: string;
  /** More clients, after demo-native and demo-backend. */
  clients?: SplitClusterClient[];
  /** Also write each process's output to `<logDir>/<name>.log`. */
  logDir?: string;
  /** Fixed ports (e.g. for a local run); any port not given is a free one picked at start. */
  ports?: Partial<SplitClusterPorts>;
  /** How long all processes have to become ready, in ms (default 30 s). */
  startTimeoutMs?: number;
  /** LOG_LEVEL of every process (default info). */
  logLevel?: string;
  /**
   * The broker's private signing JWKS (`secrets.signingKeys`): the first key of each algorithm
   * signs, all are published at /jwks. Default: an RS256 and an ES256 key generated at start.
   */
  signingKeys?: SigningJwks;
  /** `resourceServers` of the broker configuration (default none). */
  resourceServers?: SplitClusterResourceServer[];
  /**
   * More environment variables for some processes, e.g. `{ 'token-service': { NODE_OPTIONS:
   * '--cpu-prof --cpu-prof-dir=/tmp/prof' } }` (passed through tsx to the app's node process).
   */
  env?: Partial<Record<SplitProcessName, Record<string, string>>>;
  /**
   * The broker's tenants, replacing the default one (`acme`: domain acme.test, connection
   * `acme-dev-idp` to the dev IdP). Called with the cluster's URLs once its ports are picked.
   * The default clients allow tenant `acme` only: keep a tenant `acme`, or change them with
   * `defaultClients`.
   */
  tenants?: (context: SplitClusterContext) => SplitClusterTenant[];
  /** Changes to clients by clientId, merged over the defaults (demo-native, demo-backend), e.g. `initiateLoginUri`. */
  defaultClients?: Record<string, Partial<SplitClusterClient>>;
  /** The dev IdP's users, replacing alice and bob. */
  devIdpUsers?: SplitClusterDevIdpUser[];
  /**
   * The dev IdP's attribute profile per connection id (`default` when not named). With `tenants`
   * or this option, the dev IdP knows every connection whose IdP entity ID is its own, as an SP
   * with that connection's SP entity ID and ACS URL.
   */
  devIdpAttributeProfiles?: Record<string, SplitClusterAttributeProfile>;
}

export interface SplitClusterRestartOptions {
  /** A new signing JWKS, written to the configuration before the broker processes start again. */
  signingKeys?: SigningJwks;
}

export interface SplitCluster {
  /** The issuer: the dev proxy's origin, `http://localhost:<proxy port>`. */
  issuer: string;
  /** The dev IdP's base URL. */
  idpUrl: string;
  /** The temporary directory with the generated configuration (removed by stop()). */
  configDir: string;
  brokerConfigPath: string;
  devIdpConfigPath: string;
  ports: SplitClusterPorts;
  /** The secret of the demo-backend client. */
  demoBackendSecret: string;
  /** Everything a process wrote to stdout and stderr so far. */
  logs(name: SplitProcessName): string;
  /** The JSON log lines (pino) a process wrote so far; other lines are left out. */
  logEntries(name: SplitProcessName): Array<Record<string, unknown>>;
  /**
   * The pid of the node process that runs the app (the child of the tsx launcher, found in
   * /proc), for reading its CPU time; undefined when it cannot be found (no /proc, not running).
   */
  nodePid(name: SplitProcessName): number | undefined;
  /**
   * Stop auth-portal, authn-service and token-service, optionally replace the signing JWKS, and
   * start them again on the same ports, configuration and Redis key prefix (as a deployment
   * would); the dev IdP and the dev proxy keep running. Resolves once all three serve again.
   */
  restart(options?: SplitClusterRestartOptions): Promise<void>;
  /** SIGTERM to every process, SIGKILL to those still running 5 s later; removes configDir. */
  stop(): Promise<void>;
}

/** The workspace root, from this file's place in it (libs/testing/src). */
export const workspaceRoot: string = fileURLToPath(new URL('../../../', import.meta.url));

const DEMO_BACKEND_SECRET = 'split-cluster-demo-backend-secret';
const STOP_GRACE_MS = 5_000;

const MAIN_FILES: Record<SplitProcessName, string> = {
  'auth-portal': 'apps/auth-portal/src/main.ts',
  'authn-service': 'apps/authn-service/src/main.ts',
  'token-service': 'apps/token-service/src/main.ts',
  'dev-idp': 'apps/dev-idp/src/main.ts',
  'dev-proxy': 'apps/dev-proxy/src/main.ts',
};

interface Managed {
  name: SplitProcessName;
  child: ChildProcess;
  output: string[];
  file: WriteStream | undefined;
  /** Resolves once the process has exited and its output is closed. */
  closed: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  done: boolean;
}

/** Start the five processes and wait until each one serves. Rejects (after stopping them) naming the one that failed. */
export async function startSplitCluster(options: SplitClusterOptions): Promise<SplitCluster> {
  const ports = await pickPorts(options.ports ?? {});
  const issuer = `http://localhost:${ports.proxy}`;
  const idpUrl = `http://localhost:${ports.idp}`;
  const configDir = await mkdtemp(join(tmpdir(), 'broker-split-'));
  const { brokerConfigPath, devIdpConfigPath, signingKeysPath } = await writeConfigs({
    configDir,
    issuer,
    idpUrl,
    idpPort: ports.idp,
    clients: options.clients ?? [],
    resourceServers: options.resourceServers ?? [],
    signingKeys: options.signingKeys ?? (await generateSigningJwks()),
    custom: options,
  });
  if (options.logDir) await mkdir(options.logDir, { recursive: true });

  const common: NodeJS.ProcessEnv = {
    ...process.env,
    // tsx starts `node` from PATH: make it the workspace's pinned Node.
    PATH: [join(workspaceRoot, 'node_modules', '.bin'), process.env['PATH'] ?? ''].join(delimiter),
    LOG_LEVEL: options.logLevel ?? 'info',
  };
  const broker = (port: number): NodeJS.ProcessEnv => ({
    ...common,
    PORT: String(port),
    REDIS_URL: options.redisUrl,
    REDIS_KEY_PREFIX: options.keyPrefix,
    BROKER_CONFIG: brokerConfigPath,
  });
  const envs: Record<SplitProcessName, NodeJS.ProcessEnv> = {
    'auth-portal': { ...broker(ports.portal), ...options.env?.['auth-portal'] },
    'authn-service': { ...broker(ports.authn), ...options.env?.['authn-service'] },
    'token-service': { ...broker(ports.token), ...options.env?.['token-service'] },
    'dev-idp': { ...common, PORT: String(ports.idp), DEV_IDP_CONFIG: devIdpConfigPath, ...options.env?.['dev-idp'] },
    'dev-proxy': {
      ...common,
      PORT: String(ports.proxy),
      PORTAL_URL: `http://127.0.0.1:${ports.portal}`,
      AUTHN_URL: `http://127.0.0.1:${ports.authn}`,
      TOKEN_URL: `http://127.0.0.1:${ports.token}`,
      ...options.env?.['dev-proxy'],
    },
  };

  const processes = new Map<SplitProcessName, Managed>();
  // Should this process exit before stop() is done (a test runner bailing out, a second Ctrl-C),
  // leave no orphaned servers and no private keys behind.
  const onExit = (): void => {
    for (const managed of processes.values()) if (!managed.done) killGroup(managed.child, 'SIGKILL');
    rmSync(configDir, { recursive: true, force: true });
  };
  process.once('exit', onExit);

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await Promise.all([...processes.values()].map((managed) => stopProcess(managed)));
      await rm(configDir, { recursive: true, force: true });
      process.removeListener('exit', onExit);
    })();
    return stopping;
  };

  for (const name of SPLIT_PROCESS_NAMES) {
    processes.set(name, launch(name, envs[name], options.logDir));
  }

  const output = (name: SplitProcessName): string => processes.get(name)?.output.join('') ?? '';
  const readiness: Array<[SplitProcessName, string]> = [
    ['auth-portal', `http://127.0.0.1:${ports.portal}/healthz`],
    ['authn-service', `http://127.0.0.1:${ports.authn}/healthz`],
    ['token-service', `http://127.0.0.1:${ports.token}/healthz`],
    ['dev-idp', `http://127.0.0.1:${ports.idp}/healthz`],
    // Through the proxy to the token service: the public origin works end to end.
    ['dev-proxy', `${issuer}/.well-known/openid-configuration`],
  ];
  const waitForAll = async (names: readonly SplitProcessName[]): Promise<void> => {
    const deadline = Date.now() + (options.startTimeoutMs ?? 30_000);
    await Promise.all(
      readiness
        .filter(([name]) => names.includes(name))
        .map(([name, url]) => {
          const managed = processes.get(name);
          if (!managed) throw new Error(`split cluster: ${name} was not started`);
          return waitUntilReady(managed, url, deadline);
        }),
    );
  };
  try {
    await waitForAll(SPLIT_PROCESS_NAMES);
  } catch (error) {
    await stop();
    throw error;
  }

  let restarting: Promise<void> | undefined;
  const restart = async (restartOptions: SplitClusterRestartOptions = {}): Promise<void> => {
    if (stopping) throw new Error('split cluster: restart() after stop()');
    if (restarting) throw new Error('split cluster: a restart is already under way');
    restarting = (async () => {
      await Promise.all(BROKER_PROCESS_NAMES.map((name) => processes.get(name)).map((managed) => (managed ? stopProcess(managed) : Promise.resolve())));
      if (restartOptions.signingKeys) await writeFile(signingKeysPath, JSON.stringify(restartOptions.signingKeys), { mode: 0o600 });
      for (const name of BROKER_PROCESS_NAMES) processes.set(name, launch(name, envs[name], options.logDir, processes.get(name)?.output));
      // The broker processes, and the dev proxy's route to the token service.
      await waitForAll([...BROKER_PROCESS_NAMES, 'dev-proxy']);
    })();
    try {
      await restarting;
    } finally {
      restarting = undefined;
    }
  };

  return {
    issuer,
    idpUrl,
    configDir,
    brokerConfigPath,
    devIdpConfigPath,
    ports,
    demoBackendSecret: DEMO_BACKEND_SECRET,
    logs: output,
    logEntries: (name) => parseJsonLines(output(name)),
    nodePid: (name) => {
      const managed = processes.get(name);
      return managed && !managed.done && managed.child.pid !== undefined ? appPid(managed.child.pid) : undefined;
    },
    restart,
    stop,
  };
}

/**
 * The given ports (checked to be free: a readiness probe must not be answered by some other
 * server already on the port), and free ones (listen on port 0, then close) for the rest.
 */
async function pickPorts(given: Partial<SplitClusterPorts>): Promise<SplitClusterPorts> {
  const held: Server[] = [];
  const hold = async (port: number, role: keyof SplitClusterPorts): Promise<number> => {
    const server = createServer();
    held.push(server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) =>
        reject(new Error(`split cluster: cannot use port ${port} for the ${role}: ${error.code === 'EADDRINUSE' ? 'already in use' : error.message}`)),
      );
      server.listen(port, () => resolve());
    });
    const address = server.address();
    if (typeof address !== 'object' || address === null) throw new Error('split cluster: could not read a free port');
    return address.port;
  };
  try {
    // Every server stays open until all ports are picked, so no port is handed out twice.
    return {
      proxy: await hold(given.proxy ?? 0, 'proxy'),
      portal: await hold(given.portal ?? 0, 'portal'),
      authn: await hold(given.authn ?? 0, 'authn'),
      token: await hold(given.token ?? 0, 'token'),
      idp: await hold(given.idp ?? 0, 'idp'),
    };
  } finally {
    await Promise.all(held.map((server) => new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve()))));
  }
}

async function writeConfigs(input: {
  configDir: string;
  issuer: string;
  idpUrl: string;
  idpPort: number;
  clients: SplitClusterClient[];
  resourceServers: SplitClusterResourceServer[];
  signingKeys: SigningJwks;
  custom?: SplitClusterOptions;
}): Promise<{ brokerConfigPath: string; devIdpConfigPath: string; signingKeysPath: string }> {
  const { configDir, issuer, idpUrl } = input;
  const demo = (file: string): string => join(workspaceRoot, 'config', 'demo', 'dev-idp', file);
  const signingKeysPath = join(configDir, 'signing-keys.json');
  await writeFile(signingKeysPath, JSON.stringify(input.signingKeys), { mode: 0o600 });

  const brokerConfig: BrokerConfigInput = {
    issuer,
    // Like the demo: a local run, where web clients may redirect to http on a loopback host.
    development: true,
    secrets: {
      cookieKeys: [randomBytes(32).toString('base64url')],
      signingKeys: { file: signingKeysPath },
    },
    tenants: [
      {
        id: 'acme',
        displayName: 'Acme Corporation',
        emailDomains: ['acme.test'],
        defaultRole: 'member',
        connections: [
          {
            id: 'acme-dev-idp',
            displayName: 'Acme (dev IdP)',
            idp: {
              entityId: `${idpUrl}/metadata`,
              ssoUrl: `${idpUrl}/sso`,
              certificates: [{ file: demo('signing-cert.pem') }],
            },
            wantAssertionsSigned: true,
            wantResponseSigned: true,
            nameIdFormat: 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress',
            attributes: { email: 'email', givenName: 'givenName', surname: 'surname' },
          },
        ],
      },
    ],
    clients: [
      {
        clientId: 'demo-native',
        displayName: 'Demo native app',
        kind: 'native',
        redirectUris: ['http://127.0.0.1/callback'],
        allowedTenants: ['acme'],
      },
      {
        clientId: 'demo-backend',
        displayName: 'Demo backend',
        kind: 'backend',
        clientSecret: DEMO_BACKEND_SECRET,
        redirectUris: ['http://localhost:8080/callback'],
        allowedTenants: ['acme'],
      },
      ...input.clients,
    ],
    ...(input.resourceServers.length ? { resourceServers: input.resourceServers } : {}),
  };
  const devIdpConfig = {
    entityId: `${idpUrl}/metadata`,
    baseUrl: idpUrl,
    port: input.idpPort,
    signing: { keyFile: demo('signing-key.pem'), certFile: demo('signing-cert.pem') },
    users: [
      { username: 'alice', password: 'alice-password', email: 'alice@acme.test', givenName: 'Alice', surname: 'Anderson' },
      { username: 'bob', password: 'bob-password', email: 'bob@acme.test', givenName: 'Bob', surname: 'Brown', groups: ['engineering'] },
    ],
    serviceProviders: [{ entityId: `${issuer}/saml/acme-dev-idp/metadata`, acsUrls: [`${issuer}/saml/acme-dev-idp/acs`] }],
  };
  customizeConfigs(brokerConfig, devIdpConfig, input.custom, { issuer, idpUrl, idpCertificateFile: demo('signing-cert.pem') });
  const brokerConfigPath = join(configDir, 'broker.json');
  const devIdpConfigPath = join(configDir, 'dev-idp.json');
  await writeFile(brokerConfigPath, `${JSON.stringify(brokerConfig, null, 2)}\n`, { mode: 0o600 });
  await writeFile(devIdpConfigPath, `${JSON.stringify(devIdpConfig, null, 2)}\n`);
  return { brokerConfigPath, devIdpConfigPath, signingKeysPath };
}

/**
 * The node process running the app: tsx's CLI (the launcher) starts it as its only child. Read
 * from /proc/<pid>/task/<tid>/children (Linux); the launcher's own pid when it has no child.
 */
function appPid(launcherPid: number): number | undefined {
  try {
    for (const task of readdirSync(`/proc/${launcherPid}/task`)) {
      const children = readFileSync(`/proc/${launcherPid}/task/${task}/children`, 'utf8').trim();
      const first = children.split(/\s+/).find((pid) => pid !== '');
      if (first !== undefined) return Number(first);
    }
    return launcherPid;
  } catch {
    return undefined;
  }
}

/** `output` carries on an earlier run's captured output (restart()). */
function launch(name: SplitProcessName, env: NodeJS.ProcessEnv, logDir: string | undefined, output: string[] = []): Managed {
  // detached: its own process group, so SIGKILL also reaches the node process tsx starts.
  const child = spawn(join(workspaceRoot, 'node_modules', '.bin', 'tsx'), [MAIN_FILES[name]], {
    cwd: workspaceRoot,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const file = logDir ? createWriteStream(join(logDir, `${name}.log`), { flags: 'a' }) : undefined;
  const record = (chunk: Buffer): void => {
    const text = chunk.toString('utf8');
    output.push(text);
    file?.write(text);
  };
  child.stdout?.on('data', record);
  child.stderr?.on('data', record);
  const managed: Managed = {
    name,
    child,
    output,
    file,
    done: false,
    closed: new Promise((resolve) => {
      child.once('error', (error) => {
        record(Buffer.from(`split cluster: could not start ${name}: ${error.message}\n`));
        managed.done = true;
        resolve({ code: null, signal: null });
      });
      child.once('close', (code, signal) => {
        managed.done = true;
        resolve({ code, signal });
      });
    }),
  };
  void managed.closed.then(() => file?.end());
  return managed;
}

async function waitUntilReady(managed: Managed, url: string, deadline: number): Promise<void> {
  const describe = (why: string): Error =>
    new Error(`split cluster: ${managed.name} ${why}\n--- ${managed.name} output ---\n${tail(managed.output.join(''))}\n--- end of ${managed.name} output ---`);
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  void managed.closed.then((result) => {
    exited = result;
  });
  for (;;) {
    if (exited) throw describe(`exited before it was ready (code ${String(exited.code)}, signal ${String(exited.signal)})`);
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(1_000) });
      await response.body?.cancel();
      if (response.status === 200) return;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) throw describe(`was not ready at ${url} in time`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function stopProcess(managed: Managed): Promise<void> {
  if (managed.done) return;
  // tsx passes SIGTERM on to the app, which shuts down cleanly.
  managed.child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const killed = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      killGroup(managed.child, 'SIGKILL');
      resolve();
    }, STOP_GRACE_MS);
  });
  await Promise.race([managed.closed, killed]);
  clearTimeout(timer);
  await managed.closed;
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // The group is gone already.
  }
}

function tail(text: string, max = 8_000): string {
  return text.length <= max ? text : `[... ${text.length - max} characters before ...]\n${text.slice(-max)}`;
}

function parseJsonLines(text: string): Array<Record<string, unknown>> {
  const entries: Array<Record<string, unknown>> = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const value: unknown = JSON.parse(line);
      if (typeof value === 'object' && value !== null && !Array.isArray(value)) entries.push(value as Record<string, unknown>);
    } catch {
      // A line cut in two by the pipe, or not JSON: not a log entry.
    }
  }
  return entries;
}

/** A tenant entry of the broker configuration file, as written. */
export type SplitClusterTenant = BrokerConfigInput['tenants'][number];
/** A connection entry of a tenant, as written. */
export type SplitClusterConnection = NonNullable<SplitClusterTenant['connections']>[number];
/** The dev IdP's attribute names and NameID for one SP: `default` or Entra ID's (`azure`). */
export type SplitClusterAttributeProfile = 'default' | 'azure';

/** What tenants and connections may refer to, known once the cluster's ports are picked. */
export interface SplitClusterContext {
  /** The issuer, `http://localhost:<proxy port>`. */
  issuer: string;
  /** The dev IdP's base URL. */
  idpUrl: string;
  /** The dev IdP's signing certificate, a PEM file. */
  idpCertificateFile: string;
}

/** A user of the dev IdP (its configuration's `users[]`). */
export interface SplitClusterDevIdpUser {
  username: string;
  password: string;
  email: string;
  givenName: string;
  surname: string;
  groups?: string[];
  /** More attributes, sent as they are (e.g. `{ uid: 'a-1001' }`). */
  attributes?: Record<string, string | string[]>;
  /** The AuthnContextClassRef of this user's logins (default PasswordProtectedTransport). */
  authnContextClassRef?: string;
}

/** Apply the options' tenants, client changes and dev IdP settings to the generated configurations. */
function customizeConfigs(
  broker: BrokerConfigInput,
  devIdp: { users: SplitClusterDevIdpUser[]; serviceProviders: Array<{ entityId: string; acsUrls: string[]; attributeProfile?: SplitClusterAttributeProfile }> },
  options: SplitClusterOptions | undefined,
  context: SplitClusterContext,
): void {
  if (!options) return;
  if (options.tenants) broker.tenants = options.tenants(context);
  const changes = options.defaultClients;
  if (changes) broker.clients = broker.clients.map((client) => ({ ...client, ...changes[client.clientId] }));
  if (options.devIdpUsers) devIdp.users = options.devIdpUsers;
  if (options.tenants || options.devIdpAttributeProfiles) {
    const own = `${context.idpUrl}/metadata`;
    devIdp.serviceProviders = broker.tenants
      .flatMap((tenant) => tenant.connections ?? [])
      .filter((connection) => connection.idp.entityId === own)
      .map((connection) => {
        const profile = options.devIdpAttributeProfiles?.[connection.id];
        return {
          entityId: connection.spEntityId ?? `${context.issuer}/saml/${connection.id}/metadata`,
          acsUrls: [`${context.issuer}/saml/${connection.id}/acs`],
          ...(profile ? { attributeProfile: profile } : {}),
        };
      });
  }
}
