// What split mode refuses when `development` is off: productionProblems on the demo configuration
// and on a sound one, and startBrokerRuntime refusing before it connects to anything; a malformed
// REDIS_URL is refused without being quoted.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfigFile, type ResolvedConfig } from '@broker/config';
import { MIN_SECRET_LENGTH, productionProblems } from './production-checks.ts';
import { startBrokerRuntime } from './runtime.ts';

const DEMO_DIR = fileURLToPath(new URL('../../../config/demo/', import.meta.url));
const demo = loadConfigFile(join(DEMO_DIR, 'broker.yaml'), { env: {} });
const otherIdpCertificate = (): string => readFileSync(new URL('../../testing/fixtures/keys/idp-b.cert.pem', import.meta.url), 'utf8');
const long = (): string => randomBytes(32).toString('base64url');

/** The demo configuration made fit for production. */
const sound = (): ResolvedConfig => ({
  ...demo,
  development: false,
  issuer: 'https://login.example.test',
  secrets: { ...demo.secrets, cookieKeys: [long()] },
  admin: { apiToken: long() },
  tenants: demo.tenants.map((t) => ({ ...t, connections: t.connections.map((c) => ({ ...c, idp: { ...c.idp, certificates: [otherIdpCertificate()] } })) })),
  clients: demo.clients.map((c) => (c.clientSecret === undefined ? c : { ...c, clientSecret: long() })),
});

describe('productionProblems', () => {
  it('finds nothing in a sound configuration', () => {
    expect(productionProblems(sound())).toEqual([]);
  });

  it('names each problem of the demo configuration run as production, without quoting a secret', () => {
    const problems = productionProblems({ ...demo, development: false, secrets: { ...demo.secrets, cookieKeys: ['short-key'] }, admin: { apiToken: 'x' } });
    expect(problems).toEqual([
      'issuer: must be https',
      `secrets.cookieKeys.0: shorter than ${MIN_SECRET_LENGTH} characters`,
      `admin.apiToken: shorter than ${MIN_SECRET_LENGTH} characters`,
      "clients.2.clientSecret: the demo configuration's value",
      "tenants.0.connections.0.idp.certificates.0: the demo IdP's certificate (its private key is public: anyone could sign in as anyone)",
    ]);
    expect(problems.join('\n')).not.toMatch(/short-key|demo-backend-secret/);
    expect(productionProblems({ ...sound(), clients: sound().clients.map((c) => (c.clientSecret === undefined ? c : { ...c, clientSecret: 'abc' })) })).toEqual([
      `clients.2.clientSecret: shorter than ${MIN_SECRET_LENGTH} characters`,
    ]);
    expect(productionProblems({ ...sound(), saml: { allowPrivateMetadataUrls: true } })).toEqual(['saml.allowPrivateMetadataUrls: for development only']);
  });
});

describe('startBrokerRuntime in split mode', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'broker-production-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses a configuration with development off that is not fit for production, before connecting to Redis', async () => {
    const text = (await readFile(join(DEMO_DIR, 'broker.yaml'), 'utf8'))
      .replace('./dev-idp/signing-cert.pem', join(DEMO_DIR, 'dev-idp/signing-cert.pem'))
      .replace('development: true', 'development: false');
    const file = join(dir, 'production.yaml');
    await writeFile(file, `${text}\nsecrets:\n  cookieKeys: [short]\n`);
    // No Redis at this URL: the refusal must come first.
    await expect(startBrokerRuntime({ service: 'test', mode: 'split', argv: ['--config', file], env: { REDIS_URL: 'redis://127.0.0.1:1' } })).rejects.toThrow(
      /not a production configuration[\s\S]*- issuer: must be https[\s\S]*- secrets\.cookieKeys\.0: shorter than 32 characters/,
    );
  });

  it('refuses a malformed REDIS_URL without quoting it', async () => {
    const file = join(dir, 'development.yaml');
    await writeFile(file, (await readFile(join(DEMO_DIR, 'broker.yaml'), 'utf8')).replace('./dev-idp/signing-cert.pem', join(DEMO_DIR, 'dev-idp/signing-cert.pem')));
    const error = await startBrokerRuntime({ service: 'test', mode: 'split', argv: ['--config', file], env: { REDIS_URL: 'redis//:SuperSecretPw@bad' } }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error?.message).toBe('REDIS_URL must be a redis:// or rediss:// URL');
  });
});
