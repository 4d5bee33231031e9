import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createMemoryStore } from '@broker/store';
import { loadConfigFile, type ResolvedConfig, type ResolvedConnection, type ResolvedTenant } from '@broker/config';
import { createDirectory, emailDomain, importTenants } from './directory.ts';

const DEMO_CONFIG = fileURLToPath(new URL('../../../config/demo/broker.yaml', import.meta.url));
const demo = loadConfigFile(DEMO_CONFIG, { env: {} });

const acme = demo.tenants[0] as ResolvedTenant;
const acmeConnection = acme.connections[0] as ResolvedConnection;

/** The demo configuration plus a second tenant with two domains and two connections. */
const config: ResolvedConfig = {
  ...demo,
  tenants: [
    ...demo.tenants,
    {
      ...acme,
      id: 'globex',
      displayName: 'Globex',
      emailDomains: ['globex.test', 'eu.globex.test'],
      connections: [
        { ...acmeConnection, id: 'globex-okta' },
        { ...acmeConnection, id: 'globex-entra' },
      ],
    },
  ],
};
const store = createMemoryStore();
await importTenants(store, config.tenants);
const directory = createDirectory(store);

describe('emailDomain', () => {
  it('is the lowercased domain of an email address', () => {
    expect(emailDomain('alice@acme.test')).toBe('acme.test');
    expect(emailDomain('Alice@ACME.Test')).toBe('acme.test');
    expect(emailDomain('alice@acme.test ')).toBe('acme.test');
    // The last @ separates the domain.
    expect(emailDomain('"a@b"@acme.test')).toBe('acme.test');
  });

  it('is undefined for anything that is not an email address', () => {
    for (const value of ['', 'alice', '@acme.test', 'alice@', 'alice@localhost', 'alice@acme', 'alice@acme.t', 'alice@ac me.test', 'alice@acme.test/evil', 'alice@acme_test.com']) {
      expect(emailDomain(value), value).toBeUndefined();
    }
  });
});

describe('directory', () => {
  it('discovers the tenant from the email domain', async () => {
    expect((await directory.tenantForEmail('alice@acme.test'))?.id).toBe('acme');
    expect((await directory.tenantForEmail('carol@globex.test'))?.id).toBe('globex');
    expect((await directory.tenantForEmail('dave@eu.globex.test'))?.id).toBe('globex');
  });

  it('ignores the case of the email address', async () => {
    expect((await directory.tenantForEmail('ALICE@ACME.TEST'))?.id).toBe('acme');
    expect((await directory.tenantForEmail('Carol@Eu.Globex.Test'))?.id).toBe('globex');
  });

  it('matches whole domains only: no suffix, parent or lookalike matches', async () => {
    expect(await directory.tenantForEmail('mallory@evilacme.test')).toBeUndefined();
    expect(await directory.tenantForEmail('mallory@sub.acme.test')).toBeUndefined();
    expect(await directory.tenantForEmail('mallory@acme.test.evil.test')).toBeUndefined();
    expect(await directory.tenantForEmail('mallory@unknown.test')).toBeUndefined();
    expect(await directory.tenantForEmail('not an email')).toBeUndefined();
    expect(await directory.tenantForEmail('')).toBeUndefined();
  });

  it('finds tenants, connections and clients by id, and nothing for unknown ids', async () => {
    expect((await directory.tenant('acme'))?.displayName).toBe('Acme Corporation');
    expect(await directory.tenant('nope')).toBeUndefined();
    // Ids are exact: no case folding for ids that appear in URLs.
    expect(await directory.tenant('ACME')).toBeUndefined();

    const found = await directory.connection('globex-entra');
    expect(found?.tenant.id).toBe('globex');
    expect(found?.connection.id).toBe('globex-entra');
    expect((await directory.connection('acme-dev-idp'))?.tenant.id).toBe('acme');
    expect(await directory.connection('nope')).toBeUndefined();

    expect((await directory.tenantByExternalId('organization', 'nope'))).toBeUndefined();
  });

  it('does not treat inherited object properties as ids', async () => {
    for (const id of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
      expect(await directory.tenant(id), id).toBeUndefined();
      expect(await directory.connection(id), id).toBeUndefined();
      expect(await directory.tenantForEmail(`x@${id}.test`), id).toBeUndefined();
    }
  });
});
