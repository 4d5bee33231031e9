import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { DevIdpConfigError, loadDevIdpConfig } from './config.ts';

const DEMO_DIR = fileURLToPath(new URL('../../../config/demo/', import.meta.url));

const valid = {
  entityId: 'urn:test:idp',
  baseUrl: 'http://localhost:3999/',
  signing: { keyFile: join(DEMO_DIR, 'dev-idp/signing-key.pem'), certFile: join(DEMO_DIR, 'dev-idp/signing-cert.pem') },
  users: [{ username: 'u', password: 'p', email: 'u@example.test', givenName: 'U', surname: 'Ser' }],
  serviceProviders: [{ entityId: 'urn:test:sp', acsUrls: ['http://localhost:3000/acs'] }],
};

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dev-idp-config-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function write(name: string, content: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, content);
  return path;
}

describe('loadDevIdpConfig', () => {
  it('loads the demo config with its keys, relative to the file', async () => {
    const config = await loadDevIdpConfig(join(DEMO_DIR, 'dev-idp.yaml'));
    expect(config.entityId).toBe('http://localhost:3001/metadata');
    expect(config.port).toBe(3001);
    expect(config.signing.privateKeyPem).toContain('PRIVATE KEY');
    expect(config.signing.certificatePem).toContain('BEGIN CERTIFICATE');
    expect(config.users.find((u) => u.username === 'bob')?.groups).toEqual(['engineering']);
  });

  it('reads JSON too and trims a trailing slash from baseUrl', async () => {
    const config = await loadDevIdpConfig(await write('ok.json', JSON.stringify(valid)));
    expect(config.baseUrl).toBe('http://localhost:3999');
  });

  it('names the bad field', async () => {
    const bad = { ...valid, users: [{ ...valid.users[0], email: 'not-an-email' }] };
    const path = await write('bad.yaml', stringify(bad));
    await expect(loadDevIdpConfig(path)).rejects.toThrow(/users\.0\.email/);
    const noAcs = { ...valid, serviceProviders: [{ entityId: 'urn:test:sp', acsUrls: [] }] };
    await expect(loadDevIdpConfig(await write('no-acs.yaml', stringify(noAcs)))).rejects.toThrow(
      /serviceProviders\.0\.acsUrls/,
    );
  });

  it('reads per-user attributes and authentication context, and per-SP attribute profiles', async () => {
    const withExtras = {
      ...valid,
      users: [{ ...valid.users[0], attributes: { uid: 'u-1', role: ['a', 'b'] }, authnContextClassRef: 'https://refeds.org/profile/mfa' }],
      serviceProviders: [...valid.serviceProviders, { entityId: 'urn:test:azure-sp', acsUrls: ['http://localhost:3000/acs2'], attributeProfile: 'azure' }],
    };
    const config = await loadDevIdpConfig(await write('extras.yaml', stringify(withExtras)));
    expect(config.users[0]?.attributes).toEqual({ uid: 'u-1', role: ['a', 'b'] });
    expect(config.users[0]?.authnContextClassRef).toBe('https://refeds.org/profile/mfa');
    expect(config.serviceProviders.map((sp) => sp.attributeProfile)).toEqual([undefined, 'azure']);

    const badProfile = { ...valid, serviceProviders: [{ ...valid.serviceProviders[0], attributeProfile: 'okta' }] };
    await expect(loadDevIdpConfig(await write('bad-profile.yaml', stringify(badProfile)))).rejects.toThrow(/serviceProviders\.0\.attributeProfile/);
    const badAttribute = { ...valid, users: [{ ...valid.users[0], attributes: { uid: 42 } }] };
    await expect(loadDevIdpConfig(await write('bad-attribute.yaml', stringify(badAttribute)))).rejects.toThrow(/users\.0\.attributes\.uid/);
  });

  it('names an unreadable key file', async () => {
    const path = await write('nokey.yaml', stringify({ ...valid, signing: { ...valid.signing, keyFile: 'missing.pem' } }));
    const error: unknown = await loadDevIdpConfig(path).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DevIdpConfigError);
    expect((error as Error).message).toMatch(/signing\.keyFile/);
  });
});
