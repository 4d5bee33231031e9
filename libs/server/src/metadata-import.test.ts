import type { LookupAddress } from 'node:dns';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { ConfigError, loadConfigFile, type ResolvedConfig, type ResolvedConnection, type ResolvedTenant } from '@broker/config';
import { resolveIdpSettings, type AddressResolver, type FetchIdpMetadataOptions } from '@broker/saml';
import { importIdpMetadata } from './metadata-import.ts';
import { startBrokerRuntime } from './runtime.ts';

const DEMO_FILE = fileURLToPath(new URL('../../../config/demo/broker.yaml', import.meta.url));
const key = (name: string): Promise<string> => readFile(fileURLToPath(new URL(`../../testing/fixtures/keys/${name}`, import.meta.url)), 'utf8');
const HOST = 'test-idp-a'; // the CN of the server's certificate
const resolver: AddressResolver = (_hostname, _options, callback) => callback(null, [{ address: '127.0.0.1', family: 4 } satisfies LookupAddress]);

const metadataXml = (cert: string) => `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://idp.example.test/entity">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>${cert.replace(/-----[A-Z ]+-----|\s+/g, '')}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example.test/sso"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>`;

const demo = loadConfigFile(DEMO_FILE, { env: {} });
const demoTenant = demo.tenants[0] as ResolvedTenant;
const demoConnection = demoTenant.connections[0] as ResolvedConnection;

/** The demo configuration with a second connection whose IdP comes from `metadataUrl`. */
function configWithMetadataUrl(metadataUrl: string, allowPrivateMetadataUrls: boolean): ResolvedConfig {
  return {
    ...demo,
    saml: { allowPrivateMetadataUrls },
    tenants: [{ ...demoTenant, connections: [demoConnection, { ...demoConnection, id: 'acme-entra', idp: { certificates: [], metadataUrl } }] }],
  };
}

describe('importIdpMetadata', () => {
  let cert = '';
  let metadataUrl = '';
  const server = createServer();
  let dir = '';

  beforeAll(async () => {
    cert = await key('idp-a.cert.pem');
    server.setSecureContext({ key: await key('idp-a.key.pem'), cert });
    server.on('request', (_req, res) => {
      res.setHeader('content-type', 'application/samlmetadata+xml');
      res.end(metadataXml(cert));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    metadataUrl = `https://${HOST}:${(server.address() as AddressInfo).port}/federationmetadata.xml`;
    dir = await mkdtemp(join(tmpdir(), 'broker-metadata-'));
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  it('fetches each metadataUrl once and puts the XML into the connection', async () => {
    const config = configWithMetadataUrl(metadataUrl, true);
    const imported = await importIdpMetadata(config, { fetchOptions: { ca: cert, resolver } });
    const [untouched, entra] = imported.tenants[0]?.connections ?? [];
    expect(untouched).toBe(demoConnection);
    expect(entra?.idp.metadataXml).toBe(metadataXml(cert));
    expect(resolveIdpSettings(entra as ResolvedConnection)).toMatchObject({ entityId: 'https://idp.example.test/entity', ssoUrl: 'https://idp.example.test/sso' });
    // Before the import the connection cannot be used, and says why.
    expect(() => resolveIdpSettings(config.tenants[0]?.connections[1] as ResolvedConnection)).toThrow(/acme-entra: the IdP metadata from idp\.metadataUrl has not been fetched/);
  });

  it('passes saml.allowPrivateMetadataUrls on, so a loopback IdP is refused in production settings', async () => {
    const error = await importIdpMetadata(configWithMetadataUrl(metadataUrl, false), { fetchOptions: { ca: cert, resolver } }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(/^tenants\.0\.connections\.1\.idp\.metadataUrl \(connection acme-entra\): cannot import the IdP metadata: .*127\.0\.0\.1, a loopback address/);
  });

  it('hands the fetcher the development flag and nothing else it was not given', async () => {
    const seen: Array<[string, FetchIdpMetadataOptions]> = [];
    await importIdpMetadata(configWithMetadataUrl('https://login.example.test/metadata', false), {
      fetch: (url, options) => {
        seen.push([url, options]);
        return Promise.resolve({ url, xml: metadataXml(cert), metadata: { entityId: 'x', certificates: [cert] } });
      },
    });
    expect(seen).toEqual([['https://login.example.test/metadata', { allowPrivateNetwork: false }]]);
  });

  it('stops the start with a message naming the connection when the fetch fails', async () => {
    const raw = parseYaml(await readFile(DEMO_FILE, 'utf8')) as { tenants: Array<{ connections: Array<Record<string, unknown>> }> };
    const connection = raw.tenants[0]?.connections[0];
    if (!connection) throw new Error('the demo configuration has no connection');
    connection['idp'] = { metadataUrl: 'https://10.20.30.40/federationmetadata.xml' };
    const path = join(dir, 'broker.yaml');
    await writeFile(path, toYaml(raw));
    await expect(startBrokerRuntime({ service: 'metadata-import-test', mode: 'all-in-one', argv: ['--config', path], env: {} })).rejects.toThrow(
      /connection acme-dev-idp\): cannot import the IdP metadata: IdP metadata URL https:\/\/10\.20\.30\.40\/federationmetadata\.xml leads to 10\.20\.30\.40, a private \(RFC 1918\) address/,
    );
  });
});
