// `npm run bench:login [-- --logins N] [-- --warmup N] [-- --concurrency N] [-- --codes N]
//   [-- --refreshes N] [-- --profile DIR] [-- --log-level LEVEL] [-- --log-dir DIR]
//   [-- --node-options=--max-old-space-size=80] (NODE_OPTIONS of the three broker processes) [-- --heap DIR]`
//
// The broker in split mode, as five processes on the Redis at REDIS_URL (default
// redis://127.0.0.1:6379, under a random key prefix deleted at the end), under load from this
// process at a fixed concurrency (default 16):
//   full login: authorize (portal) -> interaction (portal) -> /saml/.../login (authn) -> dev IdP
//     SSO and login form -> auto-POST to the ACS (authn) -> interaction complete (portal) ->
//     authorization resumed (portal) -> code at the loopback redirect URI -> /token (token) ->
//     /userinfo (token), all through the dev proxy; latency per login (p50, p99), logins/s, and
//     server CPU per login: utime+stime from /proc/<pid>/stat of the auth-portal, authn-service
//     and token-service node processes before and after the timed logins, divided by their
//     number. The dev proxy (an ingress stand-in) and the dev IdP (the customer's IdP: its
//     signing cost is not the broker's) are reported apart.
//   token endpoint, authorization_code: codes collected by logins in batches (codes live 60 s),
//     then redeemed at the same concurrency: requests/s, p50, p99, token-service CPU per request.
//   token endpoint, refresh_token: one login with offline_access per worker, then each worker
//     follows its own rotation chain: requests/s, p50, p99, token-service CPU per request.
// --profile DIR: the three broker processes run with --cpu-prof (through NODE_OPTIONS); at the
// end the samples taken during the timed logins are summed up by function (self time) and by
// package, and the .cpuprofile files stay in DIR for Chrome DevTools.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { Agent, request, type IncomingHttpHeaders } from 'node:http';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { deleteKeysUnder } from '@broker/store';
import { parseForm, startSplitCluster, type SplitCluster, type SplitProcessName } from '@broker/testing';
import { cpuMs, cpuTimes, option, textOption, write } from './cli.ts';

const logins = option('logins', 400);
const warmup = option('warmup', 48);
const concurrency = option('concurrency', 16);
const codes = option('codes', 480);
const refreshes = option('refreshes', 960);
const profileDir = textOption('profile');
const logLevel = textOption('log-level') ?? 'info';
const logDir = textOption('log-dir');
const nodeOptions = textOption('node-options');
const heapDir = textOption('heap');
const redisUrl = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const keyPrefix = `bench-login:${randomBytes(6).toString('hex')}:`;

const CLIENT_ID = 'demo-native';
const REDIRECT_URI = `http://127.0.0.1:${49_152 + Math.floor(Math.random() * 16_000)}/callback`;
const PERSON = { username: 'alice', password: 'alice-password' };
const BROKER: readonly SplitProcessName[] = ['auth-portal', 'authn-service', 'token-service'];
const ALL: readonly SplitProcessName[] = [...BROKER, 'dev-proxy', 'dev-idp'];

// ---------------------------------------------------------------------------------------------
// A lean HTTP client (keep-alive, manual redirects, a cookie jar per login), so the load
// generator takes as little of the machine's CPU as it can.

const agent = new Agent({ keepAlive: true, maxSockets: 256 });

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

function send(url: URL, init: { method?: string; headers?: Record<string, string>; form?: Record<string, string> } = {}): Promise<Reply> {
  const body = init.form ? new URLSearchParams(init.form).toString() : undefined;
  const headers: Record<string, string> = { ...init.headers };
  if (body !== undefined) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    headers['content-length'] = String(Buffer.byteLength(body));
  }
  return new Promise((resolvePromise, reject) => {
    const req = request(url, { method: init.method ?? (body === undefined ? 'GET' : 'POST'), headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.setTimeout(30_000, () => req.destroy(new Error(`timeout: ${url.origin}${url.pathname}`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** Cookies by host (paths and expiry ignored but for deletion: one login per jar). */
class Jar {
  private readonly byHost = new Map<string, Map<string, string>>();

  header(url: URL): Record<string, string> {
    const cookies = this.byHost.get(url.host);
    if (!cookies?.size) return {};
    return { cookie: [...cookies].map(([name, value]) => `${name}=${value}`).join('; ') };
  }

  store(url: URL, setCookie: string[] | undefined): void {
    if (!setCookie) return;
    let cookies = this.byHost.get(url.host);
    if (!cookies) {
      cookies = new Map<string, string>();
      this.byHost.set(url.host, cookies);
    }
    for (const line of setCookie) {
      const [pair = '', ...attributes] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const removed = attributes.some((a) => /^\s*max-age=0\s*$/i.test(a) || /^\s*expires=.*1970/i.test(a));
      if (removed) cookies.delete(name);
      else cookies.set(name, pair.slice(eq + 1).trim());
    }
  }
}

/** A browser: the jar, and where each request went (to check the hops of a login). */
class Browser {
  readonly jar = new Jar();
  readonly hops: string[] = [];

  async go(url: URL, init: { method?: string; form?: Record<string, string> } = {}): Promise<Reply> {
    this.hops.push(`${init.form ? 'POST' : 'GET'} ${url.host}${url.pathname}`);
    const reply = await send(url, { ...init, headers: this.jar.header(url) });
    const setCookie = reply.headers['set-cookie'];
    this.jar.store(url, setCookie);
    return reply;
  }
}

// ---------------------------------------------------------------------------------------------
// One login, as openid-client and a browser would do it.

interface Code {
  code: string;
  verifier: string;
}

/** From the authorization URL to the code at the redirect URI, every hop through the dev proxy and the dev IdP. */
async function loginForCode(cluster: SplitCluster, extra: Record<string, string> = {}): Promise<Code & { hops: string[] }> {
  const browser = new Browser();
  const verifier = randomBytes(32).toString('base64url');
  const state = randomBytes(16).toString('base64url');
  const authorize = new URL(`${cluster.issuer}/authorize`);
  for (const [name, value] of Object.entries({
    client_id: CLIENT_ID,
    redirect_uri: REDIRECT_URI,
    response_type: 'code',
    scope: 'openid email profile',
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
    state,
    nonce: randomBytes(16).toString('base64url'),
    tenant: 'acme',
    ...extra,
  })) {
    authorize.searchParams.set(name, value);
  }
  let url = authorize;
  let reply = await browser.go(url);
  for (let hop = 0; hop < 16; hop++) {
    if (reply.status >= 300 && reply.status < 400 && typeof reply.headers.location === 'string') {
      const next = new URL(reply.headers.location, url);
      if (next.href.startsWith(`${REDIRECT_URI}?`)) {
        if (next.searchParams.get('state') !== state) throw new Error('login: state mismatch at the redirect URI');
        const code = next.searchParams.get('code');
        if (!code) throw new Error(`login: no code at the redirect URI: ${next.search}`);
        return { code, verifier, hops: browser.hops };
      }
      url = next;
      reply = await browser.go(url);
      continue;
    }
    if (reply.status === 200 && reply.body.includes('<form')) {
      // The dev IdP's login form (fill it in), then its auto-POST form to the ACS (submit as is).
      const form = parseForm(reply.body, url.href);
      const fields = form.fields['password'] !== undefined ? { ...form.fields, ...PERSON } : form.fields;
      url = new URL(form.action);
      reply = await browser.go(url, { form: fields });
      continue;
    }
    throw new Error(`login: unexpected answer ${reply.status} from ${url.href}:\n${reply.body.slice(0, 400)}`);
  }
  throw new Error(`login: too many hops:\n${browser.hops.join('\n')}`);
}

interface TokenReply {
  access_token?: string;
  refresh_token?: string;
  id_token?: string;
  error?: string;
}

async function tokenRequest(cluster: SplitCluster, form: Record<string, string>): Promise<TokenReply> {
  const reply = await send(new URL(`${cluster.issuer}/token`), { form: { client_id: CLIENT_ID, ...form }, headers: { accept: 'application/json' } });
  const body = JSON.parse(reply.body) as TokenReply;
  if (reply.status !== 200) throw new Error(`token endpoint: ${reply.status} ${body.error ?? reply.body.slice(0, 200)}`);
  return body;
}

const redeem = (cluster: SplitCluster, { code, verifier }: Code): Promise<TokenReply> =>
  tokenRequest(cluster, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier });

/** A full login: the code, its redemption, and userinfo with the access token. */
async function fullLogin(cluster: SplitCluster): Promise<void> {
  const tokens = await redeem(cluster, await loginForCode(cluster));
  if (!tokens.access_token || !tokens.id_token) throw new Error('login: no access token or ID token');
  const userinfo = await send(new URL(`${cluster.issuer}/userinfo`), { headers: { authorization: `Bearer ${tokens.access_token}` } });
  if (userinfo.status !== 200 || !userinfo.body.includes('"sub"')) throw new Error(`userinfo: ${userinfo.status} ${userinfo.body.slice(0, 200)}`);
}

// ---------------------------------------------------------------------------------------------
// Measuring.

/** Run `count` tasks, `concurrency` at a time; each task's duration in ms. */
async function pool(count: number, task: (i: number) => Promise<void>): Promise<{ durations: number[]; seconds: number }> {
  const durations: number[] = [];
  let next = 0;
  const started = process.hrtime.bigint();
  const worker = async (): Promise<void> => {
    for (let i = next++; i < count; i = next++) {
      const start = process.hrtime.bigint();
      await task(i);
      durations.push(Number(process.hrtime.bigint() - start) / 1e6);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, () => worker()));
  return { durations, seconds: Number(process.hrtime.bigint() - started) / 1e9 };
}

const percentile = (values: number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;
};
const ms = (value: number): string => `${value.toFixed(1)} ms`;
const latency = (durations: number[]): string => `p50 ${ms(percentile(durations, 50))}, p99 ${ms(percentile(durations, 99))}, max ${ms(Math.max(...durations))}`;

type CpuSnapshot = Map<SplitProcessName, { user: number; system: number }>;
const snapshot = (pids: Map<SplitProcessName, number>): CpuSnapshot => new Map([...pids].map(([name, pid]) => [name, cpuTimes(pid)]));
const usedTimes = (before: CpuSnapshot, after: CpuSnapshot, name: SplitProcessName): { user: number; system: number } => ({
  user: (after.get(name)?.user ?? 0) - (before.get(name)?.user ?? 0),
  system: (after.get(name)?.system ?? 0) - (before.get(name)?.system ?? 0),
});
const used = (before: CpuSnapshot, after: CpuSnapshot, name: SplitProcessName): number => {
  const { user, system } = usedTimes(before, after, name);
  return user + system;
};

/** Read and write system calls a process has made so far (/proc/<pid>/io: syscr, syscw). */
function syscalls(pid: number): { reads: number; writes: number } {
  const io = readFileSync(`/proc/${pid}/io`, 'utf8');
  return { reads: Number(/^syscr: (\d+)$/m.exec(io)?.[1] ?? 0), writes: Number(/^syscw: (\d+)$/m.exec(io)?.[1] ?? 0) };
}

/** Resident memory of a process in MB (/proc/<pid>/status: VmRSS). */
function rssMb(pid: number): number {
  const kb = Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? Number.NaN);
  return kb / 1024;
}

/**
 * The live heap of each broker process after a full garbage collection, in MB: a heap snapshot
 * (the processes run with --heapsnapshot-signal=SIGUSR2 --diagnostic-dir=DIR, one at a time, with
 * no load in flight: a snapshot stops a process for seconds), summed over its nodes' self sizes.
 */
async function liveHeapMb(dir: string, pids: Map<SplitProcessName, number>): Promise<Map<SplitProcessName, number>> {
  const heaps = new Map<SplitProcessName, number>();
  for (const name of BROKER) {
    const pid = pids.get(name) ?? 0;
    const before = new Set(readdirSync(dir));
    process.kill(pid, 'SIGUSR2');
    let file: string | undefined;
    let size = -1;
    for (const deadline = Date.now() + 120_000; Date.now() < deadline; ) {
      await sleep(500);
      file ??= readdirSync(dir).find((f) => !before.has(f) && f.endsWith('.heapsnapshot') && f.includes(`.${pid}.`));
      if (!file) continue;
      const now = statSync(join(dir, file)).size;
      // Written when its size stops changing and it ends as JSON does.
      if (now === size && now > 0 && readFileSync(join(dir, file), 'utf8').trimEnd().endsWith('}')) break;
      size = now;
    }
    if (!file) throw new Error(`no heap snapshot from ${name} (pid ${pid}) in ${dir}`);
    const snapshot = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { snapshot: { meta: { node_fields: string[] } }; nodes: number[] };
    const fields = snapshot.snapshot.meta.node_fields;
    const selfSize = fields.indexOf('self_size');
    let total = 0;
    for (let i = selfSize; i < snapshot.nodes.length; i += fields.length) total += snapshot.nodes[i] ?? 0;
    heaps.set(name, total / 1024 / 1024);
  }
  // The pauses outlasted the servers' keep-alive timeout (5 s): let them close the idle sockets
  // before the next request, or the agent may reuse one as it closes (ECONNRESET).
  await sleep(6_000);
  return heaps;
}

/** Commands the Redis server has run so far (all its clients: only meaningful on a quiet server). */
async function redisCommands(redis: Redis): Promise<number> {
  const info = await redis.info('commandstats');
  let total = 0;
  for (const match of info.matchAll(/^cmdstat_[^:]+:calls=(\d+)/gm)) total += Number(match[1]);
  return total;
}

function machine(): string {
  const model = readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.+)$/m)?.[1] ?? cpus()[0]?.model ?? 'unknown';
  const nproc = execFileSync('nproc', { encoding: 'utf8' }).trim();
  return `${nproc} CPUs (nproc), ${model}, node ${process.version}, ${process.platform} ${process.arch}`;
}

// ---------------------------------------------------------------------------------------------
// CPU profiles (--profile): self time by function and by package within a time window.

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

function summariseProfiles(dir: string, pids: Map<SplitProcessName, number>, windowUs: [number, number], count: number): void {
  const byFunction = new Map<string, number>();
  const byPackage = new Map<string, number>();
  let total = 0;
  const add = (map: Map<string, number>, key: string, us: number): void => {
    map.set(key, (map.get(key) ?? 0) + us);
  };
  const top = (map: Map<string, number>, of: number, n: number): void => {
    for (const [key, us] of [...map].sort((a, b) => b[1] - a[1]).slice(0, n)) {
      write(`  ${((us / of) * 100).toFixed(1).padStart(5)}%  ${(us / 1000 / count).toFixed(3)} ms/login  ${key}`);
    }
  };
  const files = readdirSync(dir).filter((file) => file.endsWith('.cpuprofile'));
  for (const [name, pid] of pids) {
    if (!BROKER.includes(name)) continue;
    const file = files.find((f) => f.split('.').includes(String(pid)));
    if (!file) {
      write(`profile: no .cpuprofile for ${name} (pid ${pid}) in ${dir}`);
      continue;
    }
    const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile;
    const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
    let at = profile.startTime;
    let processTotal = 0;
    const processFunctions = new Map<string, number>();
    const processPackages = new Map<string, number>();
    profile.samples.forEach((id, i) => {
      const delta = profile.timeDeltas[i] ?? 0;
      at += delta;
      if (at < windowUs[0] || at > windowUs[1]) return;
      const frame = nodes.get(id)?.callFrame;
      if (!frame || frame.functionName === '(idle)') return;
      const where = frame.url.replace(/^file:\/\//, '').replace(`${process.cwd()}/`, '');
      const key = `${frame.functionName || '(anonymous)'} ${where ? `${where}:${frame.lineNumber + 1}` : ''}`.trim();
      add(byFunction, key, delta);
      add(processFunctions, key, delta);
      const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(where)?.[1] ?? (where.startsWith('node:') ? 'node (built-in)' : where.startsWith('libs/') ? where.split('/').slice(0, 2).join('/') : where ? where.split('/')[0] ?? where : frame.functionName);
      add(byPackage, pkg, delta);
      add(processPackages, pkg, delta);
      processTotal += delta;
    });
    total += processTotal;
    write(`profile: ${name}: ${(processTotal / 1000 / count).toFixed(2)} ms sampled per login (${file}); top by package and by function:`);
    top(processPackages, processTotal, 6);
    top(processFunctions, processTotal, 8);
  }
  write(`profile: broker processes, self time during the timed logins, by package (${(total / 1000 / count).toFixed(2)} ms per login sampled):`);
  top(byPackage, total, 15);
  write('profile: by function (self time):');
  top(byFunction, total, 30);
}

// ---------------------------------------------------------------------------------------------


const brokerNodeOptions = [
  ...(profileDir ? [`--cpu-prof --cpu-prof-dir=${resolve(profileDir)}`] : []),
  ...(heapDir ? [`--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${resolve(heapDir)}`] : []),
  ...(nodeOptions ? [nodeOptions] : []),
].join(' ');
const profileEnv = brokerNodeOptions ? { NODE_OPTIONS: brokerNodeOptions } : undefined;
if (profileDir) await mkdir(profileDir, { recursive: true });
if (heapDir) await mkdir(heapDir, { recursive: true });

write(`login-bench: ${machine()}`);
write(`login-bench: redis ${redisUrl}, key prefix ${keyPrefix}, LOG_LEVEL ${logLevel}, concurrency ${concurrency}`);
const cluster = await startSplitCluster({
  redisUrl,
  keyPrefix,
  logLevel,
  ...(logDir ? { logDir: resolve(logDir) } : {}),
  ...(profileEnv ? { env: { 'auth-portal': profileEnv, 'authn-service': profileEnv, 'token-service': profileEnv } } : {}),
});
const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
const clientCpu = (): number => {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
};

try {
  const pids = new Map<SplitProcessName, number>();
  for (const name of ALL) {
    const pid = cluster.nodePid(name);
    if (pid === undefined) throw new Error(`no pid for ${name} (is /proc there?)`);
    pids.set(name, pid);
  }
  write(`login-bench: pids ${[...pids].map(([name, pid]) => `${name}=${pid}`).join(' ')}`);

  // The hops of one login, for the record.
  const sample = await loginForCode(cluster);
  write(`login-bench: one login is ${sample.hops.length + 2} requests: ${sample.hops.map((hop) => hop.replace(/^(\w+) [^/]+/, '$1 ').replace(/\/interaction\/[^/]+/, '/interaction/<uid>').replace(/\/authorize\/[^/]+/, '/authorize/<uid>')).join(' | ')} | POST /token | GET /userinfo`);

  // (a) Full logins.
  await pool(warmup, () => fullLogin(cluster));
  const logBytes = (): Map<SplitProcessName, [number, number]> =>
    new Map(ALL.map((name) => {
      const text = cluster.logs(name);
      return [name, [text.length, text.split('\n').length - 1]];
    }));
  const logsBefore = logBytes();
  const heapAfterWarmup = heapDir ? await liveHeapMb(heapDir, pids) : undefined;
  const commandsBefore = await redisCommands(redis);
  const before = snapshot(pids);
  const rssAfterWarmup = new Map(BROKER.map((name) => [name, rssMb(pids.get(name) ?? 0)]));
  const syscallsBefore = new Map(BROKER.map((name) => [name, syscalls(pids.get(name) ?? 0)]));
  const clientBefore = clientCpu();
  const windowStart = Number(process.hrtime.bigint() / 1000n);
  const full = await pool(logins, () => fullLogin(cluster));
  const windowEnd = Number(process.hrtime.bigint() / 1000n);
  const after = snapshot(pids);
  const rssAfterLogins = new Map(BROKER.map((name) => [name, rssMb(pids.get(name) ?? 0)]));
  const syscallsAfter = new Map(BROKER.map((name) => [name, syscalls(pids.get(name) ?? 0)]));
  const clientUsed = clientCpu() - clientBefore;
  const commands = (await redisCommands(redis)) - commandsBefore;
  const logsAfter = logBytes();
  // After every figure of the window is read: the snapshots cost the processes and this one time.
  const heapAfterLogins = heapDir ? await liveHeapMb(heapDir, pids) : undefined;
  const perLogin = (name: SplitProcessName): number => used(before, after, name) / logins;
  const brokerPerLogin = BROKER.reduce((sum, name) => sum + perLogin(name), 0);
  write(`full login: ${logins} logins after ${warmup} warm-up, concurrency ${concurrency}: ${(logins / full.seconds).toFixed(1)} logins/s, ${latency(full.durations)}`);
  write(
    `full login: server CPU per login ${ms(brokerPerLogin)} (auth-portal ${ms(perLogin('auth-portal'))}, authn-service ${ms(perLogin('authn-service'))}, token-service ${ms(perLogin('token-service'))})`,
  );
  const userShare = BROKER.reduce((sum, name) => sum + usedTimes(before, after, name).user, 0) / logins;
  write(`full login: of which user ${ms(userShare)}, kernel ${ms(brokerPerLogin - userShare)}; Redis: ${(commands / logins).toFixed(1)} commands per login (whole server)`);
  write(
    `full login: system calls per login (reads / writes, /proc/<pid>/io): ${BROKER.map((name) => {
      const delta = (key: 'reads' | 'writes') => ((syscallsAfter.get(name)?.[key] ?? 0) - (syscallsBefore.get(name)?.[key] ?? 0)) / logins;
      return `${name} ${delta('reads').toFixed(1)} / ${delta('writes').toFixed(1)}`;
    }).join(', ')}`,
  );
  write(`full login: not counted: dev proxy ${ms(perLogin('dev-proxy'))}, dev IdP ${ms(perLogin('dev-idp'))}, this load generator ${ms(clientUsed / logins)} per login`);
  write(
    `full login: log output per login (LOG_LEVEL ${logLevel}): ${BROKER.map((name) => {
      const [bytes, lines] = (logsAfter.get(name) ?? [0, 0]).map((v, i) => v - (logsBefore.get(name)?.[i] ?? 0));
      return `${name} ${((lines ?? 0) / logins).toFixed(1)} lines, ${((bytes ?? 0) / logins).toFixed(0)} bytes`;
    }).join('; ')}`,
  );
  const wallCpu = (BROKER.reduce((sum, name) => sum + used(before, after, name), 0) + used(before, after, 'dev-proxy') + used(before, after, 'dev-idp') + clientUsed) / (full.seconds * 1000);
  write(`full login: all processes together kept ${wallCpu.toFixed(2)} of ${cpus().length} CPUs busy`);

  // (b) Token endpoint, authorization_code grant: codes collected in batches, then redeemed.
  const batch = Math.max(concurrency, Math.min(codes, 160));
  const codeDurations: number[] = [];
  let codeSeconds = 0;
  let tokenCpuForCodes = 0;
  for (let done = 0; done < codes; done += batch) {
    const size = Math.min(batch, codes - done);
    const collected: Code[] = [];
    await pool(size, async () => {
      collected.push(await loginForCode(cluster));
    });
    const tokenBefore = cpuMs(pids.get('token-service') ?? 0);
    const redeemed = await pool(size, async (i) => {
      const code = collected[i];
      if (!code) throw new Error('no code collected');
      const tokens = await redeem(cluster, code);
      if (!tokens.id_token) throw new Error('no ID token');
    });
    tokenCpuForCodes += cpuMs(pids.get('token-service') ?? 0) - tokenBefore;
    codeDurations.push(...redeemed.durations);
    codeSeconds += redeemed.seconds;
  }
  write(
    `token endpoint, authorization_code: ${codes} requests, concurrency ${concurrency}: ${(codes / codeSeconds).toFixed(0)} requests/s, ${latency(codeDurations)}, token-service CPU ${ms(tokenCpuForCodes / codes)} per request`,
  );

  // (b) Token endpoint, refresh_token grant: one rotation chain per worker.
  const chains: string[] = [];
  await pool(concurrency, async () => {
    const tokens = await redeem(cluster, await loginForCode(cluster, { scope: 'openid email offline_access', prompt: 'consent' }));
    if (!tokens.refresh_token) throw new Error('no refresh token');
    chains.push(tokens.refresh_token);
  });
  const perChain = Math.ceil(refreshes / concurrency);
  const refreshDurations: number[] = [];
  const tokenBefore = cpuMs(pids.get('token-service') ?? 0);
  const refreshStarted = process.hrtime.bigint();
  await Promise.all(
    chains.map(async (first) => {
      let current = first;
      for (let i = 0; i < perChain; i++) {
        const start = process.hrtime.bigint();
        const tokens = await tokenRequest(cluster, { grant_type: 'refresh_token', refresh_token: current });
        refreshDurations.push(Number(process.hrtime.bigint() - start) / 1e6);
        if (!tokens.refresh_token || tokens.refresh_token === current) throw new Error('refresh token did not rotate');
        current = tokens.refresh_token;
      }
    }),
  );
  const refreshSeconds = Number(process.hrtime.bigint() - refreshStarted) / 1e9;
  const tokenCpuForRefresh = cpuMs(pids.get('token-service') ?? 0) - tokenBefore;
  write(
    `token endpoint, refresh_token: ${refreshDurations.length} requests, ${chains.length} rotation chains: ${(refreshDurations.length / refreshSeconds).toFixed(0)} requests/s, ${latency(refreshDurations)}, token-service CPU ${ms(tokenCpuForRefresh / refreshDurations.length)} per request`,
  );

  const loginsInAll = 1 + warmup + logins + codes + chains.length;
  write(
    `memory: resident set (VmRSS) after the warm-up / after the ${logins} timed logins / at the end (${loginsInAll} logins and ${refreshDurations.length} refreshes in all): ${BROKER.map(
      (name) => `${name} ${rssAfterWarmup.get(name)?.toFixed(0)} / ${rssAfterLogins.get(name)?.toFixed(0)} / ${rssMb(pids.get(name) ?? 0).toFixed(0)} MB`,
    ).join(', ')}`,
  );

  if (heapAfterWarmup && heapAfterLogins) {
    write(
      `memory: live heap after a full GC (heap snapshots in ${heapDir}), after the warm-up / after the ${logins} timed logins: ${BROKER.map(
        (name) => `${name} ${heapAfterWarmup.get(name)?.toFixed(1)} / ${heapAfterLogins.get(name)?.toFixed(1)} MB`,
      ).join(', ')}`,
    );
  }

  if (profileDir) {
    await cluster.stop(); // the profiles are written as the processes exit
    summariseProfiles(profileDir, pids, [windowStart, windowEnd], logins);
  }
} finally {
  await cluster.stop();
  agent.destroy();
  const deleted = await deleteKeysUnder(redis, keyPrefix);
  await redis.quit();
  write(`login-bench: stopped; deleted ${deleted} Redis keys under ${keyPrefix}`);
}
