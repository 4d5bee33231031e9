import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

const userSchema = z.object({
  username: z.string().min(1),
  password: z.string().min(1),
  email: z.email(),
  givenName: z.string().min(1),
  surname: z.string().min(1),
  groups: z.array(z.string().min(1)).optional(),
  /**
   * More attributes sent as they are, after the SP's profile attributes (one with the same name
   * replaces the profile's): `{ uid: 'a-1001', role: ['admin', 'auditor'] }`.
   */
  attributes: z.record(z.string().min(1), z.union([z.string(), z.array(z.string()).min(1)])).optional(),
  /** The AuthnContextClassRef of this user's logins (default PasswordProtectedTransport), e.g. an MFA class. */
  authnContextClassRef: z.string().min(1).optional(),
});

const serviceProviderSchema = z.object({
  entityId: z.string().min(1),
  // The first URL is used when an AuthnRequest names no ACS URL.
  acsUrls: z.array(z.url({ protocol: /^https?$/ })).min(1),
  /**
   * Which attribute names and NameID this SP gets: `default` (email, givenName, surname, groups;
   * the email as an emailAddress NameID) or `azure` (Entra ID's claim URIs and a persistent,
   * opaque NameID per user and SP). Absent: default.
   */
  attributeProfile: z.enum(['default', 'azure']).optional(),
});

/** The config file as written: key and certificate are file paths relative to the file. */
const fileConfigSchema = z.object({
  entityId: z.string().min(1),
  baseUrl: z.url({ protocol: /^https?$/ }).transform((url) => url.replace(/\/+$/, '')),
  port: z.number().int().min(0).max(65_535).optional(),
  signing: z.object({ keyFile: z.string().min(1), certFile: z.string().min(1) }),
  users: z
    .array(userSchema)
    .min(1)
    .refine((users) => new Set(users.map((u) => u.username)).size === users.length, 'usernames must be unique'),
  serviceProviders: z
    .array(serviceProviderSchema)
    .min(1)
    .refine((sps) => new Set(sps.map((sp) => sp.entityId)).size === sps.length, 'entityIds must be unique'),
  sessionTtlSeconds: z.number().int().positive().optional(),
});

export type DevIdpFileConfig = z.infer<typeof fileConfigSchema>;
export type DevIdpUser = z.infer<typeof userSchema>;
export type DevIdpServiceProvider = z.infer<typeof serviceProviderSchema>;
export type DevIdpAttributeProfile = NonNullable<DevIdpServiceProvider['attributeProfile']>;

/** The loaded config `createDevIdp` takes: like the file, but with the PEM texts instead of paths. */
export interface DevIdpConfig extends Omit<DevIdpFileConfig, 'signing'> {
  signing: { privateKeyPem: string; certificatePem: string };
}

/** Thrown for any unreadable or invalid config; the message names the file and the bad field. */
export class DevIdpConfigError extends Error {
  override name = 'DevIdpConfigError';
}

/**
 * Read and validate a dev IdP config file. YAML is a superset of JSON, so one parser serves
 * both `.yaml` and `.json` files.
 */
export async function loadDevIdpConfig(path: string): Promise<DevIdpConfig> {
  const text = await readText(path, path);
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (error) {
    throw new DevIdpConfigError(`${path}: not valid YAML/JSON: ${(error as Error).message}`);
  }
  const result = fileConfigSchema.safeParse(raw);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`);
    throw new DevIdpConfigError(`${path}: invalid dev IdP config:\n  ${problems.join('\n  ')}`);
  }
  const { signing, ...rest } = result.data;
  const dir = dirname(path);
  const privateKeyPem = await readText(resolve(dir, signing.keyFile), `${path}: signing.keyFile`);
  const certificatePem = await readText(resolve(dir, signing.certFile), `${path}: signing.certFile`);
  checkKeyPair(privateKeyPem, certificatePem, path);
  return { ...rest, signing: { privateKeyPem, certificatePem } };
}

async function readText(file: string, label: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw new DevIdpConfigError(`${label}: cannot read ${file}: ${(error as Error).message}`);
  }
}

/** Fail at start-up, not at the first login, when the PEM files are unusable or do not match. */
function checkKeyPair(privateKeyPem: string, certificatePem: string, path: string): void {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certificatePem);
  } catch (error) {
    throw new DevIdpConfigError(`${path}: signing.certFile: not a PEM certificate: ${(error as Error).message}`);
  }
  try {
    if (!cert.checkPrivateKey(createPrivateKey(privateKeyPem))) {
      throw new DevIdpConfigError(`${path}: signing.keyFile does not match signing.certFile`);
    }
  } catch (error) {
    if (error instanceof DevIdpConfigError) throw error;
    throw new DevIdpConfigError(`${path}: signing.keyFile: not a PEM private key: ${(error as Error).message}`);
  }
}
