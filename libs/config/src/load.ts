import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ATTRIBUTE_PRESETS, brokerConfigSchema, type BrokerConfig, type ClientConfig, type ConnectionConfig, type SecretSource, type TenantConfig } from './schema.ts';

/** A configuration problem, with the field at fault named in the message. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** A key pair read from configuration: PEM private key and certificate. */
export interface KeyPair {
  privateKey: string;
  certificate: string;
}

/** Attribute names, the preset's defaults merged with the connection's own. */
export interface AttributeMapping {
  email: string;
  givenName: string;
  surname: string;
  username?: string | undefined;
  accessProfile?: string | undefined;
}

export interface ResolvedConnection extends Omit<ConnectionConfig, 'idp' | 'sp' | 'attributes'> {
  sp: { signing?: KeyPair | undefined; encryption?: KeyPair | undefined };
  attributes: AttributeMapping;
  idp: {
    entityId?: string | undefined;
    ssoUrl?: string | undefined;
    sloUrl?: string | undefined;
    /** PEM certificates given in the configuration (metadata may add more). */
    certificates: string[];
    /**
     * The IdP metadata XML: read from idp.metadataFile, given inline as idp.metadataXml, or (for
     * idp.metadataUrl) filled in at start by the server after fetching it.
     */
    metadataXml?: string | undefined;
    /** Where the metadata is fetched from at start (idp.metadataUrl), when configured so. */
    metadataUrl?: string | undefined;
  };
}
export interface ResolvedTenant extends Omit<TenantConfig, 'connections'> {
  connections: ResolvedConnection[];
}
export interface ResolvedClient extends Omit<ClientConfig, 'clientSecret'> {
  clientSecret?: string | undefined;
}
/** The configuration with every secret and file reference read. */
export interface ResolvedConfig extends Omit<BrokerConfig, 'secrets' | 'tenants' | 'clients' | 'admin'> {
  admin: {
    /** Bearer token of the administration API; undefined: the API is off. */
    apiToken?: string | undefined;
  };
  secrets: {
    cookieKeys?: string[] | undefined;
    /** JWKS JSON text with private keys. */
    signingKeys?: string | undefined;
  };
  tenants: ResolvedTenant[];
  clients: ResolvedClient[];
}

export interface LoadOptions {
  /** Environment used for `{ env: NAME }` secrets; default process.env. */
  env?: NodeJS.ProcessEnv;
}

/** Read, validate and resolve a configuration file (YAML or JSON). Throws ConfigError. */
export function loadConfigFile(path: string, options: LoadOptions = {}): ResolvedConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read configuration file ${path}: ${(error as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = path.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    // Only the parser's first line and the position: its code frame (YAML) or snippet (JSON)
    // would quote the file, secrets included, into the logs.
    const message = (error as Error).message;
    const where = /line \d+,? column \d+|position \d+/.exec(message)?.[0];
    const what = path.endsWith('.json') ? 'JSON' : `YAML: ${(message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '').replace(/"[^"]*"/g, '"…"')}`;
    throw new ConfigError(`configuration file ${path} is not valid ${what}${where ? ` (at ${where})` : ''}`);
  }
  return parseConfig(raw, { ...options, baseDir: dirname(resolve(path)), source: path });
}

/** Validate and resolve an already-parsed configuration object. Throws ConfigError. */
export function parseConfig(raw: unknown, options: LoadOptions & { baseDir: string; source?: string }): ResolvedConfig {
  const result = brokerConfigSchema.safeParse(raw);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => `  - ${issue.path.length ? issue.path.join('.') : '(root)'}: ${issue.message}`);
    throw new ConfigError(`invalid configuration${options.source ? ` in ${options.source}` : ''}:\n${lines.join('\n')}`);
  }
  const config = result.data;
  const env = options.env ?? process.env;
  const readFile = (file: string, field: string): string => {
    const full = isAbsolute(file) ? file : resolve(options.baseDir, file);
    try {
      return readFileSync(full, 'utf8');
    } catch (error) {
      throw new ConfigError(`${field}: cannot read ${full}: ${(error as Error).message}`);
    }
  };
  const secret = (source: SecretSource, field: string): string => {
    if (typeof source === 'string') return source;
    if ('env' in source) {
      const value = env[source.env];
      if (!value) throw new ConfigError(`${field}: environment variable ${source.env} is not set`);
      return value;
    }
    return readFile(source.file, field).trim();
  };

  return {
    ...config,
    admin: { apiToken: config.admin.apiToken && secret(config.admin.apiToken, 'admin.apiToken') },
    secrets: {
      cookieKeys: config.secrets.cookieKeys?.map((key, i) => secret(key, `secrets.cookieKeys.${i}`)),
      signingKeys: config.secrets.signingKeys && secret(config.secrets.signingKeys, 'secrets.signingKeys'),
    },
    tenants: config.tenants.map((tenant, t) => ({
      ...tenant,
      connections: tenant.connections.map((connection, c) => {
        const field = `tenants.${t}.connections.${c}.idp`;
        const { metadataFile, metadataXml, certificates, ...idp } = connection.idp;
        const keyPair = (pair: { privateKey: SecretSource; certificate: string | { file: string } } | undefined, name: string): KeyPair | undefined => {
          if (!pair) return undefined;
          const base = `tenants.${t}.connections.${c}.sp.${name}`;
          const privateKey = secret(pair.privateKey, `${base}.privateKey`);
          const certificate = typeof pair.certificate === 'string' ? pair.certificate : readFile(pair.certificate.file, `${base}.certificate`);
          return { privateKey, certificate: checkedKeyPairCertificate(privateKey, certificate, base) };
        };
        return {
          ...connection,
          sp: { signing: keyPair(connection.sp.signing, 'signing'), encryption: keyPair(connection.sp.encryption, 'encryption') },
          attributes: { ...ATTRIBUTE_PRESETS[connection.preset], ...definedOnly(connection.attributes) },
          idp: {
            ...idp,
            certificates: (certificates ?? []).map((cert, i) => (typeof cert === 'string' ? cert : readFile(cert.file, `${field}.certificates.${i}`))),
            metadataXml: metadataFile === undefined ? metadataXml : readFile(metadataFile, `${field}.metadataFile`),
          },
        };
      }),
    })),
    clients: config.clients.map((client, i) => ({
      ...client,
      clientSecret: client.clientSecret && secret(client.clientSecret, `clients.${i}.clientSecret`),
    })),
  };
}

/**
 * The certificate of an SP key pair, checked: a PEM certificate (only its CERTIFICATE block is
 * kept, since it is published in the SP metadata: a file holding the key too, or the two fields
 * swapped, must never publish the private key) that belongs to the private key.
 */
function checkedKeyPairCertificate(privateKey: string, certificate: string, field: string): string {
  const block = /-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+-----END CERTIFICATE-----/.exec(certificate)?.[0];
  if (!block) throw new ConfigError(`${field}.certificate: not a PEM certificate (no BEGIN CERTIFICATE block)`);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(block);
  } catch {
    throw new ConfigError(`${field}.certificate: not a valid X.509 certificate`);
  }
  let key: ReturnType<typeof createPrivateKey>;
  try {
    key = createPrivateKey(privateKey);
  } catch {
    throw new ConfigError(`${field}.privateKey: not a valid private key (PEM)`);
  }
  if (!x509.checkPrivateKey(key)) throw new ConfigError(`${field}: the certificate does not belong to the private key`);
  return `${block}\n`;
}

/**
 * The configuration path from `--config <path>` on the command line, else the BROKER_CONFIG
 * environment variable, else `fallback`.
 */
export function configPathFrom(argv: readonly string[], env: NodeJS.ProcessEnv, fallback?: string): string | undefined {
  const flag = argv.indexOf('--config');
  if (flag !== -1 && argv[flag + 1]) return argv[flag + 1];
  const inline = argv.find((arg) => arg.startsWith('--config='));
  if (inline) return inline.slice('--config='.length);
  return env['BROKER_CONFIG'] ?? fallback;
}

/** The object without its undefined properties (so they do not override defaults when spread). */
function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
