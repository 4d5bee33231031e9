import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadConfigFile, type ResolvedConfig, type ResolvedConnection, type ResolvedTenant } from '@broker/config';
import { createDirectory, emailDomain } from './directory.ts';

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
const directory = createDirectory(config);

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
  it('discovers the tenant from the email domain', () => {
    expect(directory.tenantForEmail('alice@acme.test')?.id).toBe('acme');
    expect(directory.tenantForEmail('carol@globex.test')?.id).toBe('globex');
    expect(directory.tenantForEmail('dave@eu.globex.test')?.id).toBe('globex');
  });

  it('ignores the case of the email address', () => {
    expect(directory.tenantForEmail('ALICE@ACME.TEST')?.id).toBe('acme');
    expect(directory.tenantForEmail('Carol@Eu.Globex.Test')?.id).toBe('globex');
  });

  it('matches whole domains only: no suffix, parent or lookalike matches', () => {
    expect(directory.tenantForEmail('mallory@evilacme.test')).toBeUndefined();
    expect(directory.tenantForEmail('mallory@sub.acme.test')).toBeUndefined();
    expect(directory.tenantForEmail('mallory@acme.test.evil.test')).toBeUndefined();
    expect(directory.tenantForEmail('mallory@unknown.test')).toBeUndefined();
    expect(directory.tenantForEmail('not an email')).toBeUndefined();
    expect(directory.tenantForEmail('')).toBeUndefined();
  });

  it('finds tenants, connections and clients by id, and nothing for unknown ids', () => {
    expect(directory.tenant('acme')?.displayName).toBe('Acme Corporation');
    expect(directory.tenant('nope')).toBeUndefined();
    // Ids are exact: no case folding for ids that appear in URLs.
    expect(directory.tenant('ACME')).toBeUndefined();

    const found = directory.connection('globex-entra');
    expect(found?.tenant.id).toBe('globex');
    expect(found?.connection.id).toBe('globex-entra');
    expect(directory.connection('acme-dev-idp')?.tenant.id).toBe('acme');
    expect(directory.connection('nope')).toBeUndefined();

    expect(directory.tenants().map((t) => t.id)).toEqual(['acme', 'globex']);
  });

  it('does not treat inherited object properties as ids', () => {
    for (const id of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
      expect(directory.tenant(id), id).toBeUndefined();
      expect(directory.connection(id), id).toBeUndefined();
      expect(directory.tenantForEmail(`x@${id}.test`), id).toBeUndefined();
    }
  });
});
