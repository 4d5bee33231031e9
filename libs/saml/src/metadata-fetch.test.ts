import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { classifyAddress, fetchIdpMetadata, guardedLookup, MetadataFetchError, type AddressResolver, type MetadataFetchRule } from './metadata-fetch.ts';

const key = (name: string): string => readFileSync(fileURLToPath(new URL(`../../testing/fixtures/keys/${name}`, import.meta.url)), 'utf8');
/** The TLS server's certificate: CN=test-idp-a, self-signed, so it is its own CA. */
const CERT = key('idp-a.cert.pem');
const HOST = 'test-idp-a';
const POST = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST';
const METADATA = `<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://idp.example.test/entity">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>${CERT.replace(/-----[A-Z ]+-----|\s+/g, '')}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:SingleSignOnService Binding="${POST}" Location="https://idp.example.test/sso"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>`;
const MIB = 1024 * 1024;

/** Fake DNS: the test host names resolve to loopback (where the test servers are); others as usual. */
const names = new Map<string, LookupAddress[]>([
  [HOST, [{ address: '127.0.0.1', family: 4 }]],
  ['rebinding.example', [{ address: '8.8.8.8', family: 4 }, { address: '10.0.0.7', family: 4 }]],
  ['public.example', [{ address: '8.8.8.8', family: 4 }, { address: '2606:4700:4700::1111', family: 6 }]],
]);
const resolver: AddressResolver = (hostname, options, callback) => {
  const known = names.get(hostname);
  if (known) return setImmediate(() => callback(null, known));
  dnsLookup(hostname, options, callback);
};

const requests: string[] = [];
function handler(req: IncomingMessage, res: ServerResponse): void {
  requests.push(req.url ?? '');
  switch (req.url) {
    case '/metadata':
      res.setHeader('content-type', 'application/samlmetadata+xml');
      res.end(METADATA);
      return;
    case '/declared-too-large':
      res.setHeader('content-length', String(2 * MIB));
      res.write('<'.padEnd(64 * 1024, ' ')); // the rest never comes: the header alone must refuse it
      return;
    case '/streamed-too-large': {
      // Chunked, no length given: the cap must cut the download.
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      let sent = 0;
      const pump = (): void => {
        while (sent < 4 * MIB && !res.destroyed) {
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
      return;
    }
    case '/slow-headers':
      return; // never answers
    case '/slow-body':
      res.writeHead(200, { 'content-type': 'application/xml' });
      res.write('<md:EntityDescriptor'); // and then nothing
      return;
    case '/redirect':
      res.writeHead(302, { location: 'https://169.254.169.254/latest/meta-data?token=secret' });
      res.end();
      return;
    case '/missing':
      res.writeHead(404).end('not found');
      return;
    case '/html':
      res.setHeader('content-type', 'text/html');
      res.end('<html><body>Sign in</body></html>');
      return;
    case '/gzip':
      res.writeHead(200, { 'content-encoding': 'gzip' }).end('not really gzip');
      return;
    default:
      res.writeHead(404).end();
  }
}

async function listen(server: Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

/** The MetadataFetchError `run` rejects with (fails the test otherwise). */
async function refusal(run: Promise<unknown>): Promise<MetadataFetchError> {
  try {
    await run;
  } catch (error) {
    expect(error).toBeInstanceOf(MetadataFetchError);
    return error as MetadataFetchError;
  }
  throw new Error('expected a MetadataFetchError, the fetch succeeded');
}

describe('fetchIdpMetadata', () => {
  const httpsServer = createHttpsServer({ key: key('idp-a.key.pem'), cert: CERT }, handler);
  const httpServer = createHttpServer(handler);
  let base = '';
  let httpBase = '';
  const dev = { allowPrivateNetwork: true, ca: CERT, resolver } as const;

  beforeAll(async () => {
    base = `https://${HOST}:${await listen(httpsServer)}`;
    httpBase = `http://${HOST}:${await listen(httpServer)}`;
  });
  afterAll(async () => {
    for (const server of [httpsServer, httpServer]) {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
  beforeEach(() => {
    requests.length = 0;
  });

  it('imports metadata over HTTPS when private addresses are allowed (development)', async () => {
    const fetched = await fetchIdpMetadata(`${base}/metadata`, dev);
    expect(fetched.url).toBe(`${base}/metadata`);
    expect(fetched.xml).toBe(METADATA);
    expect(fetched.metadata).toMatchObject({ entityId: 'https://idp.example.test/entity', ssoPostUrl: 'https://idp.example.test/sso' });
    expect(fetched.metadata.certificates).toHaveLength(1);
  });

  it('refuses a host that resolves to loopback, before connecting', async () => {
    const error = await refusal(fetchIdpMetadata(`${base}/metadata`, { ca: CERT, resolver }));
    expect(error.rule).toBe<MetadataFetchRule>('private_address');
    expect(error.message).toContain('127.0.0.1, a loopback address');
    expect(requests).toEqual([]);
    // Real DNS: localhost is loopback too (127.0.0.1 or ::1).
    const localhost = await refusal(fetchIdpMetadata(`${base.replace(HOST, 'localhost')}/metadata`, { ca: CERT }));
    expect(localhost.rule).toBe('private_address');
    expect(localhost.message).toMatch(/loopback/);
    expect(requests).toEqual([]);
  });

  it('refuses IP literals of private ranges, which no lookup sees', async () => {
    const port = new URL(base).port;
    for (const host of ['127.0.0.1', '[::1]', '[::ffff:127.0.0.1]', '10.1.2.3', '169.254.169.254', '[fd00::1]', '[::ffff:0:169.254.169.254]', '[64:ff9b:1::a00:1]', '[2001:0:4136:e378:8000:63bf:3fff:fdd2]']) {
      const error = await refusal(fetchIdpMetadata(`https://${host}:${port}/metadata`, { ca: CERT }));
      expect(error.rule, host).toBe('private_address');
    }
    expect(requests).toEqual([]);
  });

  it('refuses a name with any private address among its answers (DNS rebinding)', async () => {
    const error = await refusal(fetchIdpMetadata('https://rebinding.example/metadata', { resolver }));
    expect(error.rule).toBe('private_address');
    expect(error.message).toContain('10.0.0.7, a private (RFC 1918) address');
  });

  it('refuses http unless private addresses are allowed, and then fetches it', async () => {
    const error = await refusal(fetchIdpMetadata(`${httpBase}/metadata`, { resolver }));
    expect(error.rule).toBe('https_required');
    expect(error.message).toMatch(/must use https/);
    expect(requests).toEqual([]);
    expect((await fetchIdpMetadata(`${httpBase}/metadata`, dev)).metadata.entityId).toBe('https://idp.example.test/entity');
    for (const url of ['ftp://idp.example.test/metadata', 'file:///etc/passwd']) {
      expect((await refusal(fetchIdpMetadata(url, dev))).rule).toBe('https_required');
    }
    expect((await refusal(fetchIdpMetadata('not a url'))).rule).toBe('invalid_url');
    expect((await refusal(fetchIdpMetadata(`https://user:pw@${HOST}/metadata`, dev))).rule).toBe('invalid_url');
  });

  it('refuses a body over the size cap, declared or streamed', async () => {
    const declared = await refusal(fetchIdpMetadata(`${base}/declared-too-large`, dev));
    expect(declared.rule).toBe('too_large');
    expect(declared.message).toContain(`larger than ${MIB} bytes`);
    expect((await refusal(fetchIdpMetadata(`${base}/streamed-too-large`, dev))).rule).toBe('too_large');
    expect((await refusal(fetchIdpMetadata(`${base}/metadata`, { ...dev, maxBytes: 1000 }))).rule).toBe('too_large');
  });

  it('gives up on a slow server at the deadline', async () => {
    const started = Date.now();
    const headers = await refusal(fetchIdpMetadata(`${base}/slow-headers`, { ...dev, timeoutMs: 300 }));
    expect(headers.rule).toBe('timeout');
    expect(headers.message).toContain('did not answer within 300 ms');
    expect((await refusal(fetchIdpMetadata(`${base}/slow-body`, { ...dev, timeoutMs: 300 }))).rule).toBe('timeout');
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('does not follow a redirect, and says where it pointed (without its query)', async () => {
    const error = await refusal(fetchIdpMetadata(`${base}/redirect`, dev));
    expect(error.rule).toBe('redirect');
    expect(error.message).toContain('HTTP 302 to https://169.254.169.254/latest/meta-data');
    expect(error.message).not.toContain('secret');
    expect(requests).toEqual(['/redirect']);
  });

  it('refuses error statuses, encoded bodies and content that is not IdP metadata', async () => {
    expect((await refusal(fetchIdpMetadata(`${base}/missing`, dev))).message).toMatch(/answered HTTP 404/);
    expect((await refusal(fetchIdpMetadata(`${base}/gzip`, dev))).message).toMatch(/content-encoding gzip/);
    const html = await refusal(fetchIdpMetadata(`${base}/html`, dev));
    expect(html.rule).toBe('invalid_metadata');
    expect(html.message).toMatch(/did not serve usable IdP metadata: IdP metadata has no EntityDescriptor/);
  });

  it('verifies the TLS certificate (without the test CA the server is not trusted)', async () => {
    const error = await refusal(fetchIdpMetadata(`${base}/metadata`, { allowPrivateNetwork: true, resolver }));
    expect(error.rule).toBe('network');
    expect(error.message).toMatch(/self[- ]signed/i);
  });
});

describe('guardedLookup', () => {
  const call = (lookup: ReturnType<typeof guardedLookup>, host: string, all: boolean) =>
    new Promise<{ error: Error | null; address: string | LookupAddress[]; family?: number | undefined }>((resolve) => {
      lookup(host, { all }, (error, address, family) => resolve({ error, address, family }));
    });

  it('answers one address or all of them, as the socket asks', async () => {
    const lookup = guardedLookup(resolver, false);
    expect(await call(lookup, 'public.example', false)).toEqual({ error: null, address: '8.8.8.8', family: 4 });
    expect((await call(lookup, 'public.example', true)).address).toEqual(names.get('public.example'));
  });

  it('refuses when any address is private, and allows everything when told to', async () => {
    const refused = await call(guardedLookup(resolver, false), 'rebinding.example', true);
    expect(refused.error).toBeInstanceOf(MetadataFetchError);
    expect((refused.error as MetadataFetchError).rule).toBe('private_address');
    expect((await call(guardedLookup(resolver, true), 'rebinding.example', true)).error).toBeNull();
  });

  it('passes resolver errors and empty answers on as errors', async () => {
    const failing: AddressResolver = (_host, _options, callback) => callback(Object.assign(new Error('getaddrinfo ENOTFOUND x'), { code: 'ENOTFOUND' }), []);
    expect((await call(guardedLookup(failing, false), 'x', false)).error?.message).toMatch(/ENOTFOUND/);
    const empty: AddressResolver = (_host, _options, callback) => callback(null, []);
    expect((await call(guardedLookup(empty, false), 'x', false)).error?.message).toMatch(/no address/);
  });
});

describe('classifyAddress', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['::1', 'loopback'],
    ['10.0.0.1', 'private (RFC 1918)'],
    ['172.16.0.1', 'private (RFC 1918)'],
    ['172.31.255.255', 'private (RFC 1918)'],
    ['192.168.1.1', 'private (RFC 1918)'],
    ['169.254.169.254', 'link-local'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['100.64.0.1', 'carrier-grade NAT (RFC 6598)'],
    ['100.127.255.255', 'carrier-grade NAT (RFC 6598)'],
    ['0.0.0.0', 'unspecified'],
    ['::', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['ff02::1', 'multicast'],
    ['fc00::1', 'IPv6 unique local'],
    ['fd12:3456:789a::1', 'IPv6 unique local'],
    ['fec0::1', 'IPv6 site-local'],
    ['255.255.255.255', 'reserved'],
    ['::ffff:127.0.0.1', 'IPv4-mapped loopback'],
    ['::ffff:7f00:1', 'IPv4-mapped loopback'],
    ['::ffff:10.0.0.1', 'IPv4-mapped private (RFC 1918)'],
    ['::ffff:169.254.169.254', 'IPv4-mapped link-local'],
    ['::ffff:100.64.0.1', 'IPv4-mapped carrier-grade NAT (RFC 6598)'],
    ['0:0:0:0:0:ffff:c0a8:0101', 'IPv4-mapped private (RFC 1918)'],
    ['::10.0.0.1', 'IPv4-compatible private (RFC 1918)'],
    ['64:ff9b::a9fe:a9fe', 'NAT64 link-local'],
    ['2002:7f00:1::', '6to4 loopback'],
    // SIIT's IPv4-translated form (RFC 6145) and the local-use NAT64 prefix (RFC 8215), uncompressed too.
    ['::ffff:0:a00:1', 'IPv4-translated private (RFC 1918)'],
    ['::ffff:0:169.254.169.254', 'IPv4-translated link-local'],
    ['0:0:0:0:ffff:0:7f00:1', 'IPv4-translated loopback'],
    ['64:ff9b:1::a00:1', 'local-use NAT64 private (RFC 1918)'],
    ['64:ff9b:1:0:0:0:a9fe:a9fe', 'local-use NAT64 link-local'],
    ['64:ff9b:1:ffff:ffff:ffff:7f00:1', 'local-use NAT64 loopback'],
    // Teredo hides where it leads (obfuscated IPv4 addresses, a relay): refused even for public ones.
    ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'Teredo (RFC 4380)'],
    ['2001:0:808:808:0:0:f7f7:f7f7', 'Teredo (RFC 4380)'],
    ['2001::', 'Teredo (RFC 4380)'],
    ['not-an-ip', 'invalid'],
  ])('%s is %s', (address, range) => {
    expect(classifyAddress(address)).toBe(range);
  });

  it.each(['8.8.8.8', '1.1.1.1', '172.15.255.255', '172.32.0.1', '100.63.255.255', '100.128.0.1', '2606:4700:4700::1111', '2a00:1450:4001:80b::200e', '::ffff:8.8.8.8', '64:ff9b::808:808', '2002:808:808::', '::ffff:0:808:808', '64:ff9b:1::808:808', '2001:4860:4860::8888'])(
    '%s is public',
    (address) => {
      expect(classifyAddress(address)).toBeUndefined();
    },
  );
});
