// `npm run start:split`: the broker in split mode on this machine, each part its own process
// (auth-portal, authn-service, token-service, dev IdP, dev proxy), sharing the Redis at
// REDIS_URL (default redis://127.0.0.1:6379). Public origin http://localhost:3000 (the dev
// proxy), dev IdP http://localhost:3001. Process output goes to tmp/split-logs/. Ctrl-C stops it.
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { startSplitCluster, workspaceRoot, type SplitCluster } from '@broker/testing';

const env = process.env;
const port = (name: string, fallback: number): number => {
  const raw = env[name];
  const value = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isInteger(value) || value < 0 || value > 65_535) throw new Error(`${name} must be a port number (0-65535), got '${raw ?? ''}'`);
  return value;
};
const write = (text: string): void => {
  process.stdout.write(`${text}\n`);
};

const redisUrl = env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const keyPrefix = env['REDIS_KEY_PREFIX'] ?? 'broker-split:';
const logDir = join(workspaceRoot, 'tmp', 'split-logs');
const redirectUri = 'http://127.0.0.1:8765/callback';

let cluster: SplitCluster;
try {
  cluster = await startSplitCluster({
    redisUrl,
    keyPrefix,
    logDir,
    ports: { proxy: port('PORT', 3000), idp: port('DEV_IDP_PORT', 3001), portal: 3101, authn: 3102, token: 3103 },
  });
} catch (error) {
  process.stderr.write(`start:split: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}

// An authorization URL for the public demo client, PKCE S256, to paste into a browser.
const verifier = randomBytes(32).toString('base64url');
const authorize = new URL(`${cluster.issuer}/authorize`);
authorize.search = new URLSearchParams({
  client_id: 'demo-native',
  response_type: 'code',
  redirect_uri: redirectUri,
  scope: 'openid email profile',
  state: randomBytes(16).toString('base64url'),
  code_challenge: createHash('sha256').update(verifier).digest('base64url'),
  code_challenge_method: 'S256',
}).toString();

write(
  [
    '',
    'Broker (split mode) is running.',
    `  issuer (dev proxy): ${cluster.issuer}   (discovery: ${cluster.issuer}/.well-known/openid-configuration)`,
    `  auth-portal:        http://localhost:${cluster.ports.portal}`,
    `  authn-service:      http://localhost:${cluster.ports.authn}`,
    `  token-service:      http://localhost:${cluster.ports.token}`,
    `  dev IdP:            ${cluster.idpUrl}   (users alice / alice-password, bob / bob-password)`,
    `  Redis:              ${redisUrl}   (key prefix ${keyPrefix})`,
    `  logs:               ${logDir}/<process>.log`,
    `  configuration:      ${cluster.configDir}`,
    '',
    'Sign in as alice: open this URL, type alice@acme.test, then alice / alice-password at the dev IdP.',
    `  ${authorize.href}`,
    `The browser ends at ${redirectUri}?code=... (nothing listens there). Redeem the code with:`,
    `  curl -s ${cluster.issuer}/token -d grant_type=authorization_code -d client_id=demo-native \\`,
    `    -d redirect_uri=${redirectUri} -d code_verifier=${verifier} -d code=<code>`,
    '',
    'Ctrl-C stops every process.',
    '',
  ].join('\n'),
);

// Ctrl-C under `npm run` reaches npm, tsx and this process, and tsx passes it on as well: a
// repeat within a second is the same keypress. A later one forces the exit (the cluster's exit
// hook still kills its processes and removes the configuration).
let stoppingSince: number | undefined;
const shutdown = (signal: NodeJS.Signals): void => {
  if (stoppingSince !== undefined) {
    if (Date.now() - stoppingSince > 1_000) process.exit(1);
    return;
  }
  stoppingSince = Date.now();
  write(`\n${signal}: stopping the split cluster...`);
  cluster.stop().then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`start:split: stop failed: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    },
  );
};
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
