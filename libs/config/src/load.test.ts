import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { ConfigError, configPathFrom, loadConfigFile, parseConfig } from './load.ts';

const DEMO_DIR = fileURLToPath(new URL('../../../config/demo/', import.meta.url));
const DEMO_FILE = join(DEMO_DIR, 'broker.yaml');

/** The demo configuration as written in the file: a fresh, mutable copy per call. */
interface RawConfig {
  issuer: unknown;
  secrets?: Record<string, unknown>;
  tenants: Array<Record<string, unknown> & { connections: Array<Record<string, unknown> & { idp: Record<string, unknown> }> }>;
  clients: Array<Record<string, unknown>>;
  [key: string]: unknown;
}
const demoRaw = (): RawConfig => parseYaml(readFileSync(DEMO_FILE, 'utf8')) as RawConfig;

const at = <T>(items: T[], index: number): T => {
  const item = items[index];
  if (item === undefined) throw new Error(`fixture has no item ${index}`);
  return item;
};

/** The ConfigError `parse` throws for `raw` (fails the test when it throws nothing or something else). */
function configErrorOf(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError, nothing was thrown');
}

const parse = (raw: unknown, env: NodeJS.ProcessEnv = {}) => parseConfig(raw, { baseDir: DEMO_DIR, env });

describe('loadConfigFile', () => {
  it('loads the demo configuration and resolves its certificate file and secrets', () => {
    const config = loadConfigFile(DEMO_FILE, { env: {} });
    expect(config.issuer).toBe('http://localhost:3000');
    expect(config.tenants.map((t) => t.id)).toEqual(['acme']);
    const connection = at(at(config.tenants, 0).connections, 0);
    expect(connection.id).toBe('acme-dev-idp');
    expect(connection.idp.entityId).toBe('http://localhost:3001/metadata');
    expect(connection.idp.certificates).toEqual([readFileSync(join(DEMO_DIR, 'dev-idp/signing-cert.pem'), 'utf8')]);
    expect(connection.idp.metadataXml).toBeUndefined();
    // Defaults filled in by the schema.
    expect(connection.wantResponseSigned).toBe(true);
    expect(config.ttl).toEqual({ authorizationCode: 60, accessToken: 600, idToken: 600, interaction: 600, session: 28_800 });
    expect(config.clients.find((c) => c.clientId === 'demo-backend')?.clientSecret).toBe('demo-backend-secret-not-for-production');
    expect(config.clients.find((c) => c.clientId === 'demo-native')?.clientSecret).toBeUndefined();
    expect(config.secrets).toEqual({ cookieKeys: undefined, signingKeys: undefined });
  });

  it('names the file it cannot read', () => {
    const error = configErrorOf(() => loadConfigFile(join(DEMO_DIR, 'no-such-file.yaml')));
    expect(error.message).toContain('no-such-file.yaml');
  });

  describe('with files', () => {
    let dir: string;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'broker-config-'));
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('refuses a file that is not YAML', async () => {
      const path = join(dir, 'broken.yaml');
      await writeFile(path, 'issuer: [unclosed\n');
      const error = configErrorOf(() => loadConfigFile(path));
      expect(error.message).toMatch(/not valid YAML/);
    });

    it('says where a YAML or JSON syntax error is without quoting the file (a secret may be on that line)', async () => {
      const yamlPath = join(dir, 'secret-line.yaml');
      await writeFile(yamlPath, 'issuer: https://login.example.test\nclients:\n  - clientId: app\n    clientSecret: @Zq8kP2vR9xW4mT7\n');
      const yamlError = configErrorOf(() => loadConfigFile(yamlPath)).message;
      expect(yamlError).toMatch(/not valid YAML: .+ \(at line 4, column 19\)$/);
      expect(yamlError).not.toContain('Zq8kP2vR9xW4mT7');
      const jsonPath = join(dir, 'secret-line.json');
      await writeFile(jsonPath, '{"issuer": "https://login.example.test", "clients": [{"clientId": "app", "clientSecret": Zq8kP2vR9xW4mT7}]}');
      const jsonError = configErrorOf(() => loadConfigFile(jsonPath)).message;
      expect(jsonError).toMatch(/not valid JSON/);
      expect(jsonError).not.toContain('Zq8kP2vR9xW4mT7');
    });

    it('checks an SP key pair: a certificate that belongs to the key, and only the certificate is kept (it is published)', () => {
      const keys = new URL('../../testing/fixtures/keys/', import.meta.url);
      const key = readFileSync(new URL('sp-signing.key.pem', keys), 'utf8');
      const cert = readFileSync(new URL('sp-signing.cert.pem', keys), 'utf8');
      const otherCert = readFileSync(new URL('sp-encryption.cert.pem', keys), 'utf8');
      const withPair = (privateKey: string, certificate: string) => {
        const raw = demoRaw();
        at(at(raw.tenants, 0).connections, 0)['sp'] = { signing: { privateKey, certificate } };
        return parse(raw);
      };
      // One PEM file with the key and the certificate, given for both fields: the key is not kept as the certificate.
      const combined = `${key}\n${cert}`;
      const resolved = at(at(withPair(combined, combined).tenants, 0).connections, 0).sp.signing;
      expect(resolved?.certificate).toContain('BEGIN CERTIFICATE');
      expect(resolved?.certificate).not.toContain('PRIVATE KEY');
      // The two fields swapped, or a certificate of another key: refused, naming the field.
      expect(configErrorOf(() => withPair(cert, key)).message).toMatch(/tenants\.0\.connections\.0\.sp\.signing\.certificate: not a PEM certificate/);
      expect(configErrorOf(() => withPair(key, otherCert)).message).toMatch(/tenants\.0\.connections\.0\.sp\.signing: the certificate does not belong to the private key/);
    });

    it('reads JSON and resolves relative files against the file, not the working directory', async () => {
      await writeFile(join(dir, 'cookie-key'), 'from-a-file\n');
      const raw = demoRaw();
      raw.secrets = { cookieKeys: [{ file: 'cookie-key' }] };
      at(at(raw.tenants, 0).connections, 0).idp['certificates'] = [{ file: join(DEMO_DIR, 'dev-idp/signing-cert.pem') }];
      const path = join(dir, 'broker.json');
      await writeFile(path, JSON.stringify(raw));
      const config = loadConfigFile(path, { env: {} });
      expect(config.secrets.cookieKeys).toEqual(['from-a-file']); // trimmed
      expect(at(at(config.tenants, 0).connections, 0).idp.certificates[0]).toContain('BEGIN CERTIFICATE');
    });

    it('names the invalid field and the file in a validation error', async () => {
      const raw = demoRaw();
      raw.issuer = 'not a url';
      const path = join(dir, 'bad-issuer.json');
      await writeFile(path, JSON.stringify(raw));
      const error = configErrorOf(() => loadConfigFile(path));
      expect(error.message).toContain(path);
      expect(error.message).toMatch(/- issuer: /);
    });
  });
});

describe('parseConfig field errors', () => {
  it('accepts the demo configuration as parsed from the file', () => {
    expect(parse(demoRaw()).clients).toHaveLength(3);
  });

  it('names clients.N.redirectUris when a client has none', () => {
    const raw = demoRaw();
    at(raw.clients, 0)['redirectUris'] = [];
    expect(configErrorOf(() => parse(raw)).message).toMatch(/- clients\.0\.redirectUris: /);
  });

  it('names a duplicate tenant id', () => {
    const raw = demoRaw();
    // A copy with its own connection id and domain, so the tenant id is the only conflict.
    raw.tenants.push({ ...at(raw.tenants, 0), emailDomains: ['other.test'], connections: [{ ...at(at(raw.tenants, 0).connections, 0), id: 'other-idp' }] });
    const message = configErrorOf(() => parse(raw)).message;
    expect(message).toMatch(/- tenants\.1\.id: duplicate tenant id 'acme'/);
    expect(message).not.toMatch(/connections/);
  });

  it('names a duplicate connection id and a domain claimed twice', () => {
    const raw = demoRaw();
    raw.tenants.push({ ...at(raw.tenants, 0), id: 'beta', displayName: 'Beta' });
    const message = configErrorOf(() => parse(raw)).message;
    expect(message).toMatch(/- tenants\.1\.connections\.0\.id: duplicate connection id 'acme-dev-idp'/);
    expect(message).toMatch(/- tenants\.1\.emailDomains\.0: domain 'acme\.test' already belongs to tenant 'acme'/);
  });

  /** The demo configuration with a second tenant 'globex' that conflicts with 'acme' in nothing but `globex`'s own fields. */
  const withGlobex = (globex: Record<string, unknown>): RawConfig => {
    const raw = demoRaw();
    const acme = at(raw.tenants, 0);
    raw.tenants.push({ ...acme, id: 'globex', displayName: 'Globex', externalIds: {}, accounts: [], emailDomains: ['globex.test'], connections: [{ ...at(acme.connections, 0), id: 'globex-idp' }], ...globex });
    return raw;
  };

  it('refuses an external id of one kind on two tenants, naming both (a login link would reach the wrong IdP)', () => {
    // The demo tenant 'acme' has organization 'acme-org' and customer 'cust-1001'.
    const organization = configErrorOf(() => parse(withGlobex({ externalIds: { organization: 'acme-org' } }))).message;
    expect(organization).toMatch(/- tenants\.1\.externalIds\.organization: organization external id 'acme-org' of tenant 'globex' already belongs to tenant 'acme'/);
    const customer = configErrorOf(() => parse(withGlobex({ externalIds: { customer: 'cust-1001' } }))).message;
    expect(customer).toMatch(/- tenants\.1\.externalIds\.customer: customer external id 'cust-1001' of tenant 'globex' already belongs to tenant 'acme'/);
    // Kinds are separate indexes: the same value as another kind is no conflict.
    const crossed = parse(withGlobex({ externalIds: { organization: 'cust-1001', customer: 'acme-org' } }));
    expect(crossed.tenants.map((t) => t.externalIds)).toEqual([{ organization: 'acme-org', customer: 'cust-1001' }, { organization: 'cust-1001', customer: 'acme-org' }]);
  });

  it('refuses an account external id used twice in one tenant, and takes it in two tenants', () => {
    // The demo tenant 'acme' has the account 'acme-eu' with external id 'acct-eu'.
    const raw = demoRaw();
    const acme = at(raw.tenants, 0);
    acme['accounts'] = [...(acme['accounts'] as unknown[]), { id: 'acme-us', externalId: 'acct-eu' }, { id: 'acme-apac' }, { id: 'acme-latam' }];
    const message = configErrorOf(() => parse(raw)).message;
    expect(message).toMatch(/- tenants\.0\.accounts\.1\.externalId: account external id 'acct-eu' of account 'acme-us' already belongs to account 'acme-eu' of tenant 'acme'/);
    // Accounts without an external id do not collide with each other.
    expect(message).not.toMatch(/accounts\.[23]/);
    // A login link looks an account up within its tenant only.
    const otherTenant = parse(withGlobex({ accounts: [{ id: 'globex-eu', externalId: 'acct-eu' }] }));
    expect(otherTenant.tenants.map((t) => t.accounts.map((a) => a.externalId))).toEqual([['acct-eu'], ['acct-eu']]);
  });

  it('names an unknown tenant in allowedTenants', () => {
    const raw = demoRaw();
    at(raw.clients, 1)['allowedTenants'] = ['acme', 'nope'];
    expect(configErrorOf(() => parse(raw)).message).toMatch(/- clients\.1\.allowedTenants\.1: unknown tenant 'nope'/);
  });

  it('takes resourceServers[].introspectionClients naming backends only', () => {
    const ok = demoRaw();
    ok['resourceServers'] = [{ identifier: 'https://api.example.com', introspectionClients: ['demo-backend'] }];
    expect(parse(ok).resourceServers[0]?.introspectionClients).toEqual(['demo-backend']);
    const bad = demoRaw();
    bad['resourceServers'] = [{ identifier: 'https://api.example.com', introspectionClients: ['demo-spa', 'nope'] }];
    const message = configErrorOf(() => parse(bad)).message;
    expect(message).toMatch(/- resourceServers\.0\.introspectionClients\.0: 'demo-spa' is a public spa client: only backends \(confidential clients\) may introspect/);
    expect(message).toMatch(/- resourceServers\.0\.introspectionClients\.1: unknown client 'nope'/);
  });

  it('names a backend client without a secret, and a public client with one', () => {
    const noSecret = demoRaw();
    delete at(noSecret.clients, 2)['clientSecret'];
    expect(configErrorOf(() => parse(noSecret)).message).toMatch(/- clients\.2\.clientSecret: client_secret_basic needs a clientSecret/);

    const publicWithSecret = demoRaw();
    at(publicWithSecret.clients, 0)['clientSecret'] = 'should-not-be-here';
    expect(configErrorOf(() => parse(publicWithSecret)).message).toMatch(/- clients\.0\.clientSecret: a native client is public and must not have a clientSecret/);
  });

  it('names a duplicate clientId', () => {
    const raw = demoRaw();
    raw.clients.push({ ...at(raw.clients, 0) });
    expect(configErrorOf(() => parse(raw)).message).toMatch(/- clients\.3\.clientId: duplicate clientId 'demo-native'/);
  });

  it('names malformed ids, issuers and connections', () => {
    const raw = demoRaw();
    raw.issuer = 'http://localhost:3000/';
    at(raw.tenants, 0)['id'] = 'Acme Corp';
    at(at(raw.tenants, 0).connections, 0).idp = { entityId: 'urn:only-an-entity-id' };
    const message = configErrorOf(() => parse(raw)).message;
    expect(message).toMatch(/- issuer: must not end with a slash/);
    expect(message).toMatch(/- tenants\.0\.id: must be lowercase/);
    expect(message).toMatch(/- tenants\.0\.connections\.0\.idp: give entityId, ssoUrl and certificates, or a metadataFile/);
  });

  it('takes IdP metadata from a file, a URL or inline XML, one source at a time', () => {
    const metadataXml = '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="urn:idp"/>';
    const inline = demoRaw();
    at(at(inline.tenants, 0).connections, 0).idp = { metadataXml };
    expect(at(at(parse(inline).tenants, 0).connections, 0).idp).toEqual({ certificates: [], metadataXml });

    const url = demoRaw();
    at(at(url.tenants, 0).connections, 0).idp = { metadataUrl: 'https://login.example.test/federationmetadata.xml?appid=1' };
    const fromUrl = at(at(parse(url).tenants, 0).connections, 0).idp;
    expect(fromUrl).toEqual({ certificates: [], metadataUrl: 'https://login.example.test/federationmetadata.xml?appid=1', metadataXml: undefined });
    expect(parse(url).saml).toEqual({ allowPrivateMetadataUrls: false });

    const two = demoRaw();
    at(at(two.tenants, 0).connections, 0).idp = { metadataXml, metadataUrl: 'https://login.example.test/metadata' };
    expect(configErrorOf(() => parse(two)).message).toMatch(/- tenants\.0\.connections\.0\.idp\.metadataXml: give only one of metadataFile, metadataUrl and metadataXml/);
  });

  it('wants an https metadataUrl without credentials unless saml.allowPrivateMetadataUrls is on', () => {
    const raw = demoRaw();
    at(at(raw.tenants, 0).connections, 0).idp = { metadataUrl: 'http://localhost:3001/metadata' };
    expect(configErrorOf(() => parse(raw)).message).toMatch(/- tenants\.0\.connections\.0\.idp\.metadataUrl: must be an https URL \(http only with saml\.allowPrivateMetadataUrls/);
    raw['saml'] = { allowPrivateMetadataUrls: true };
    expect(at(at(parse(raw).tenants, 0).connections, 0).idp.metadataUrl).toBe('http://localhost:3001/metadata');

    const ftp = demoRaw();
    at(at(ftp.tenants, 0).connections, 0).idp = { metadataUrl: 'ftp://idp.example.test/metadata' };
    expect(configErrorOf(() => parse(ftp)).message).toMatch(/- tenants\.0\.connections\.0\.idp\.metadataUrl: must be an absolute http\(s\) URL/);
    const credentials = demoRaw();
    at(at(credentials.tenants, 0).connections, 0).idp = { metadataUrl: 'https://user:pass@idp.example.test/metadata' };
    expect(configErrorOf(() => parse(credentials)).message).toMatch(/idp\.metadataUrl: must not carry a user name or password/);
  });

  it('defaults cache.directoryTtlSeconds to 5 s, takes 0 (off) to 60 s, refuses anything else', () => {
    expect(parse(demoRaw()).cache).toEqual({ directoryTtlSeconds: 5 });
    for (const seconds of [0, 0.5, 60]) {
      const raw = demoRaw();
      raw['cache'] = { directoryTtlSeconds: seconds };
      expect(parse(raw).cache.directoryTtlSeconds).toBe(seconds);
    }
    for (const seconds of [-1, 61, '5']) {
      const raw = demoRaw();
      raw['cache'] = { directoryTtlSeconds: seconds };
      expect(configErrorOf(() => parse(raw)).message).toMatch(/- cache\.directoryTtlSeconds: /);
    }
    const unknown = demoRaw();
    unknown['cache'] = { clientTtlSeconds: 5 };
    expect(configErrorOf(() => parse(unknown)).message).toMatch(/- cache: Unrecognized key/);
  });

  it('resolves admin.apiToken like any secret and leaves it undefined when absent', () => {
    expect(parse(demoRaw()).admin).toEqual({ apiToken: undefined });
    const raw = demoRaw();
    raw['admin'] = { apiToken: { env: 'BROKER_TEST_ADMIN_TOKEN' } };
    expect(parse(raw, { BROKER_TEST_ADMIN_TOKEN: 'admin-token-value' }).admin).toEqual({ apiToken: 'admin-token-value' });
    const missing = configErrorOf(() => parse(raw));
    expect(missing.message).toBe('admin.apiToken: environment variable BROKER_TEST_ADMIN_TOKEN is not set');
    raw['admin'] = { apiToken: '' };
    expect(configErrorOf(() => parse(raw)).message).toMatch(/- admin\.apiToken: /);
  });

  it('refuses unknown fields instead of ignoring a typo', () => {
    const raw = demoRaw();
    at(raw.clients, 0)['redirectUri'] = ['http://127.0.0.1/callback'];
    expect(configErrorOf(() => parse(raw)).message).toMatch(/- clients\.0: .*redirectUri/);
  });

  it('reads { env: NAME } secrets and names the field when the variable is missing', () => {
    const raw = demoRaw();
    at(raw.clients, 2)['clientSecret'] = { env: 'BROKER_TEST_CLIENT_SECRET' };
    raw.secrets = { cookieKeys: [{ env: 'BROKER_TEST_COOKIE_KEY' }] };

    const resolved = parse(raw, { BROKER_TEST_CLIENT_SECRET: 's3cret', BROKER_TEST_COOKIE_KEY: 'cookie' });
    expect(resolved.clients[2]?.clientSecret).toBe('s3cret');
    expect(resolved.secrets.cookieKeys).toEqual(['cookie']);

    const missingSecret = configErrorOf(() => parse(raw, { BROKER_TEST_COOKIE_KEY: 'cookie' }));
    expect(missingSecret.message).toBe('clients.2.clientSecret: environment variable BROKER_TEST_CLIENT_SECRET is not set');

    const missingCookieKey = configErrorOf(() => parse(raw, { BROKER_TEST_CLIENT_SECRET: 's3cret' }));
    expect(missingCookieKey.message).toBe('secrets.cookieKeys.0: environment variable BROKER_TEST_COOKIE_KEY is not set');

    // An empty variable is as good as none.
    expect(configErrorOf(() => parse(raw, { BROKER_TEST_CLIENT_SECRET: '', BROKER_TEST_COOKIE_KEY: 'cookie' })).message).toMatch(/^clients\.2\.clientSecret: /);
  });

  it('names an unreadable certificate file, metadata file and secret file', () => {
    const cert = demoRaw();
    at(at(cert.tenants, 0).connections, 0).idp['certificates'] = [{ file: './dev-idp/signing-cert.pem' }, { file: './dev-idp/missing.pem' }];
    expect(configErrorOf(() => parse(cert)).message).toMatch(/^tenants\.0\.connections\.0\.idp\.certificates\.1: cannot read .*missing\.pem/);

    const metadata = demoRaw();
    at(at(metadata.tenants, 0).connections, 0).idp = { metadataFile: 'missing-metadata.xml' };
    expect(configErrorOf(() => parse(metadata)).message).toMatch(/^tenants\.0\.connections\.0\.idp\.metadataFile: cannot read .*missing-metadata\.xml/);

    const signing = demoRaw();
    signing.secrets = { signingKeys: { file: 'missing-jwks.json' } };
    expect(configErrorOf(() => parse(signing)).message).toMatch(/^secrets\.signingKeys: cannot read .*missing-jwks\.json/);
  });

  it('does not put secret values in its messages', () => {
    const raw = demoRaw();
    at(raw.clients, 0)['clientSecret'] = 'public-client-secret-value';
    expect(configErrorOf(() => parse(raw)).message).not.toContain('public-client-secret-value');
  });
});

describe('configPathFrom', () => {
  it('prefers --config, then --config=, then BROKER_CONFIG, then the fallback', () => {
    expect(configPathFrom(['--config', 'a.yaml'], { BROKER_CONFIG: 'env.yaml' }, 'fallback.yaml')).toBe('a.yaml');
    expect(configPathFrom(['--config=b.yaml'], { BROKER_CONFIG: 'env.yaml' }, 'fallback.yaml')).toBe('b.yaml');
    expect(configPathFrom([], { BROKER_CONFIG: 'env.yaml' }, 'fallback.yaml')).toBe('env.yaml');
    expect(configPathFrom([], {}, 'fallback.yaml')).toBe('fallback.yaml');
    expect(configPathFrom([], {})).toBeUndefined();
  });
});
