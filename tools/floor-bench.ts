// `npm run bench:floor [-- --logins N] [-- --concurrency N] [-- --round-trips 1,2,3,7,3,5,7,3]`
//
// What the shape of a login costs on this machine with no broker code at all: three bare
// node:http servers standing in for auth-portal, authn-service and token-service, and the
// broker's eight requests of a full login (4 portal, 2 authn, 2 token, in the order of
// `npm run bench:login`). Each request does, in three rounds measured one after the other:
//
//   http     nothing but answer (a small body, as the broker's redirects and JSON are);
//   +redis   also the sequential Redis round trips the broker makes for that request (counted
//            with MONITOR on one login: 1, 2, 3, 7, 3, 5, 7, 3; 31 in all), one GET or SET of a
//            600-byte value each, with ioredis, on the Redis at REDIS_URL;
//   +crypto  also the cryptography a login cannot do without: an HMAC per portal request (signed
//            cookies), two RSA-SHA256 verifications at the ACS (a signed Response and Assertion),
//            an ES256 signature for the ID token and a SHA-256 of the code verifier at /token.
//
// Server CPU per login is utime + stime of the three server processes (/proc/<pid>/stat) over the
// timed logins, as `npm run bench:login` counts it. The last round is the floor the design
// (separate services over HTTP, state in Redis) puts under a full login on this machine, before
// any protocol engine, HTML, XML or validation runs. Needs Linux (/proc) and a Redis server.
import { fork, type ChildProcess } from 'node:child_process';
import { createHash, createHmac, createSign, createVerify, generateKeyPairSync, randomBytes, sign as signOneShot } from 'node:crypto';
import { Agent, createServer, request } from 'node:http';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { deleteKeysUnder } from '@broker/store';
import { cpuMs, option, textOption, write } from './cli.ts';

type Round = 'http' | '+redis' | '+crypto';
const SERVERS = ['auth-portal', 'authn-service', 'token-service'] as const;
type ServerName = (typeof SERVERS)[number];
/** The eight broker requests of a full login: which server, and a short name. */
const HOPS: readonly { server: ServerName; name: string }[] = [
  { server: 'auth-portal', name: 'authorize' },
  { server: 'auth-portal', name: 'interaction' },
  { server: 'authn-service', name: 'saml-login' },
  { server: 'authn-service', name: 'acs' },
  { server: 'auth-portal', name: 'complete' },
  { server: 'auth-portal', name: 'resume' },
  { server: 'token-service', name: 'token' },
  { server: 'token-service', name: 'userinfo' },
];

const redisUrl = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';

// ---------------------------------------------------------------------------------------------
// A server process: `floor-bench.ts --serve <name> <round> <round trips per hop>`.

function serve(name: ServerName, round: Round, roundTrips: number[]): void {
  const redis = round === 'http' ? undefined : new Redis(redisUrl);
  const prefix = `bench-floor:${randomBytes(4).toString('hex')}:`;
  const value = 'v'.repeat(600);
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const signedXml = Buffer.alloc(4096, 'x');
  const rsaSignature = createSign('RSA-SHA256').update(signedXml).sign(rsa.privateKey);
  const cookieKey = randomBytes(32);
  const body = JSON.stringify({ ok: true, padding: 'p'.repeat(400) });

  const work = async (hop: string): Promise<void> => {
    const index = HOPS.findIndex((h) => h.name === hop);
    if (redis) {
      for (let i = 0; i < (roundTrips[index] ?? 0); i++) {
        if (i % 2 === 0) await redis.set(`${prefix}${hop}:${i}`, value, 'EX', 60);
        else await redis.get(`${prefix}${hop}:${i - 1}`);
      }
    }
    if (round !== '+crypto') return;
    if (name === 'auth-portal') createHmac('sha256', cookieKey).update(randomBytes(32)).digest('base64url');
    if (hop === 'acs') {
      for (let i = 0; i < 2; i++) {
        if (!createVerify('RSA-SHA256').update(signedXml).verify(rsa.publicKey, rsaSignature)) throw new Error('RSA signature did not verify');
      }
    }
    if (hop === 'token') {
      createHash('sha256').update(randomBytes(43)).digest('base64url');
      signOneShot('sha256', Buffer.from(`${'h'.repeat(40)}.${'p'.repeat(300)}`), { key: ec.privateKey, dsaEncoding: 'ieee-p1363' });
    }
  };

  const server = createServer((req, res) => {
    const hop = (req.url ?? '/').slice(1);
    req.resume();
    req.on('end', () => {
      work(hop).then(
        () => {
          res.setHeader('content-type', 'application/json');
          res.setHeader('cache-control', 'no-store');
          res.end(body);
        },
        (error: unknown) => {
          res.statusCode = 500;
          res.end(String(error));
        },
      );
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    process.send?.({ port: typeof address === 'object' && address ? address.port : 0 });
  });
  process.on('message', (message) => {
    if (message !== 'stop') return;
    server.close();
    server.closeAllConnections();
    void (async () => {
      if (redis) {
        await deleteKeysUnder(redis, prefix);
        redis.disconnect();
      }
      process.exit(0);
    })();
  });
}

// ---------------------------------------------------------------------------------------------
// The load generator.


const agent = new Agent({ keepAlive: true, maxSockets: 256 });
const get = (port: number, path: string): Promise<void> =>
  new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`${path}: ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end();
  });

async function measure(round: Round, roundTrips: number[], logins: number, concurrency: number): Promise<{ cpu: number; perServer: Record<ServerName, number>; perSecond: number }> {
  const children = new Map<ServerName, { child: ChildProcess; port: number }>();
  for (const name of SERVERS) {
    const child = fork(fileURLToPath(import.meta.url), ['--serve', name, round, roundTrips.join(',')], { stdio: 'inherit' });
    const port = await new Promise<number>((resolve, reject) => {
      child.once('message', (message) => resolve((message as { port: number }).port));
      child.once('exit', (code) => reject(new Error(`${name} exited with ${code}`)));
    });
    children.set(name, { child, port });
  }
  const portOf = (server: ServerName): number => children.get(server)?.port ?? 0;
  const login = async (): Promise<void> => {
    for (const hop of HOPS) await get(portOf(hop.server), `/${hop.name}`);
  };
  const run = async (count: number): Promise<number> => {
    let next = 0;
    const started = process.hrtime.bigint();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next++ < count) await login();
      }),
    );
    return Number(process.hrtime.bigint() - started) / 1e9;
  };
  try {
    await run(Math.max(200, concurrency * 10));
    const before = new Map(SERVERS.map((name) => [name, cpuMs(children.get(name)?.child.pid ?? 0)]));
    const seconds = await run(logins);
    const perServer = Object.fromEntries(SERVERS.map((name) => [name, (cpuMs(children.get(name)?.child.pid ?? 0) - (before.get(name) ?? 0)) / logins])) as Record<ServerName, number>;
    return { cpu: Object.values(perServer).reduce((a, b) => a + b, 0), perServer, perSecond: logins / seconds };
  } finally {
    for (const { child } of children.values()) {
      child.send('stop');
      await new Promise((resolve) => child.once('exit', resolve));
    }
  }
}

if (process.argv[2] === '--serve') {
  serve(process.argv[3] as ServerName, process.argv[4] as Round, (process.argv[5] ?? '').split(',').map(Number));
} else {
  const logins = option('logins', 2000);
  const concurrency = option('concurrency', 16);
  const roundTrips = (textOption('round-trips') ?? '1,2,3,7,3,5,7,3').split(',').map(Number);
  if (roundTrips.length !== HOPS.length || roundTrips.some((n) => !Number.isInteger(n) || n < 0)) throw new Error(`--round-trips needs ${HOPS.length} counts`);
  write(`floor-bench: ${cpus().length} CPUs, ${cpus()[0]?.model.trim() ?? 'unknown CPU'}, node ${process.version}; ${logins} logins at concurrency ${concurrency}`);
  write(`floor-bench: 8 requests per login (${HOPS.map((h) => h.name).join(', ')}); Redis round trips per request ${roundTrips.join(', ')} (${roundTrips.reduce((a, b) => a + b, 0)} in all)`);
  for (const round of ['http', '+redis', '+crypto'] as const) {
    const result = await measure(round, roundTrips, logins, concurrency);
    write(
      `floor-bench: ${round.padEnd(8)} server CPU per login ${result.cpu.toFixed(2)} ms (${SERVERS.map((name) => `${name} ${result.perServer[name].toFixed(2)}`).join(', ')}), ${result.perSecond.toFixed(0)} logins/s`,
    );
  }
  agent.destroy();
}
