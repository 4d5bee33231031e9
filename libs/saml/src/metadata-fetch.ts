import { lookup as dnsLookup, type LookupAddress, type LookupAllOptions, type LookupOptions } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { BlockList, isIP } from 'node:net';
import { parseIdpMetadata, type IdpMetadata } from './idp-metadata.ts';

/**
 * Import an IdP's metadata from its URL (Entra ID's App Federation Metadata URL, Okta's
 * metadata URL, ...) without letting the URL reach into the broker's own network (SSRF): HTTPS
 * only; the host must resolve to public addresses only, checked on the addresses the socket
 * actually connects to (the check runs inside the `lookup` the request uses, so a DNS answer
 * that changes between a check and the connection cannot slip through); no redirects; a size
 * cap and an overall deadline; and the body must be IdP metadata. `allowPrivateNetwork` lifts
 * the scheme and address rules for development (a dev IdP on localhost).
 */

/** Which rule refused the import. */
export type MetadataFetchRule =
  | 'invalid_url'
  | 'https_required'
  | 'private_address'
  | 'redirect'
  | 'http_status'
  | 'too_large'
  | 'timeout'
  | 'network'
  | 'invalid_metadata';

export class MetadataFetchError extends Error {
  override readonly name = 'MetadataFetchError';
  readonly rule: MetadataFetchRule;
  constructor(rule: MetadataFetchRule, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.rule = rule;
  }
}

/** A DNS resolver answering every address of a host (the shape of dns.lookup with all: true). */
export type AddressResolver = (
  hostname: string,
  options: LookupAllOptions,
  callback: (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void;

export interface FetchIdpMetadataOptions {
  /** Development only: allow http and loopback, private and link-local addresses (default false). */
  allowPrivateNetwork?: boolean;
  /** Largest body accepted, in bytes (default 1 MiB). */
  maxBytes?: number;
  /** Deadline for the whole fetch (DNS, connection, TLS, headers, body), in ms (default 5000). */
  timeoutMs?: number;
  /** Trusted CA certificates (PEM) instead of Node's default roots; for tests and private PKIs. */
  ca?: string | string[] | undefined;
  /** The DNS resolution to guard (default dns.lookup); every address it returns is checked. */
  resolver?: AddressResolver;
}

export interface FetchedIdpMetadata {
  /** The URL fetched. */
  url: string;
  /** The metadata XML as served. */
  xml: string;
  metadata: IdpMetadata;
}

const DEFAULT_MAX_BYTES = 1024 * 1024;
const DEFAULT_TIMEOUT_MS = 5000;

export async function fetchIdpMetadata(url: string, options: FetchIdpMetadataOptions = {}): Promise<FetchedIdpMetadata> {
  const allowPrivate = options.allowPrivateNetwork ?? false;
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    throw new MetadataFetchError('invalid_url', `IdP metadata URL '${url}' is not an absolute URL`);
  }
  const shown = `${target.origin}${target.pathname}`; // no query string or credentials in messages
  if (target.username || target.password) throw new MetadataFetchError('invalid_url', `IdP metadata URL ${shown} must not carry a user name or password`);
  if (target.protocol !== 'https:' && !(target.protocol === 'http:' && allowPrivate)) {
    throw new MetadataFetchError('https_required', `IdP metadata URL ${shown} must use https (http only with saml.allowPrivateMetadataUrls, for development)`);
  }
  // An IP literal is connected to without any lookup, so it is checked here.
  const literal = target.hostname.replace(/^\[(.*)\]$/, '$1');
  if (isIP(literal) !== 0 && !allowPrivate) {
    const range = classifyAddress(literal);
    if (range) throw privateAddress(shown, literal, range);
  }

  const xml = await download(target, shown, {
    allowPrivate,
    maxBytes: options.maxBytes ?? DEFAULT_MAX_BYTES,
    timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    ca: options.ca,
    resolver: options.resolver ?? defaultResolver,
  });
  let metadata: IdpMetadata;
  try {
    metadata = parseIdpMetadata(xml);
  } catch (error) {
    throw new MetadataFetchError('invalid_metadata', `${shown} did not serve usable IdP metadata: ${(error as Error).message}`, { cause: error });
  }
  return { url: target.href, xml, metadata };
}

const defaultResolver: AddressResolver = (hostname, options, callback) => dnsLookup(hostname, options, callback);

const privateAddress = (shown: string, address: string, range: string): MetadataFetchError =>
  new MetadataFetchError(
    'private_address',
    `IdP metadata URL ${shown} leads to ${address}, a ${range} address; only public addresses are fetched (saml.allowPrivateMetadataUrls allows others, for development)`,
  );

interface DownloadSettings {
  allowPrivate: boolean;
  maxBytes: number;
  timeoutMs: number;
  ca: string | string[] | undefined;
  resolver: AddressResolver;
}

function download(target: URL, shown: string, settings: DownloadSettings): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let settled = false;
    // Called from the request's callbacks and the timer only, so after both constants below exist.
    const finish = (error: MetadataFetchError | undefined, body?: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error) {
        request.destroy();
        reject(error);
      } else {
        resolve(body ?? '');
      }
    };

    const requestOptions: https.RequestOptions = {
      method: 'GET',
      // A fresh connection every time: a pooled socket would skip the guarded lookup.
      agent: false,
      lookup: guardedLookup(settings.resolver, settings.allowPrivate, shown),
      headers: { accept: 'application/samlmetadata+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1', 'accept-encoding': 'identity' },
      ...(target.protocol === 'https:' ? { minVersion: 'TLSv1.2' as const, ...(settings.ca === undefined ? {} : { ca: settings.ca }) } : {}),
    };
    const client = target.protocol === 'https:' ? https : http;
    const request = client.request(target, requestOptions, (response) => {
      const status = response.statusCode ?? 0;
      if (status >= 300 && status < 400) {
        const location = response.headers.location;
        return finish(
          new MetadataFetchError('redirect', `IdP metadata URL ${shown} redirects (HTTP ${status}${location ? ` to ${redacted(location, target)}` : ''}); redirects are not followed: set idp.metadataUrl to the final URL`),
        );
      }
      if (status !== 200) return finish(new MetadataFetchError('http_status', `IdP metadata URL ${shown} answered HTTP ${status}, not 200`));
      const encoding = response.headers['content-encoding'];
      if (encoding !== undefined && encoding !== 'identity') {
        return finish(new MetadataFetchError('http_status', `IdP metadata URL ${shown} answered with content-encoding ${encoding}, which is not accepted`));
      }
      const declared = Number(response.headers['content-length']);
      if (Number.isFinite(declared) && declared > settings.maxBytes) return finish(tooLarge(shown, settings.maxBytes));
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > settings.maxBytes) return finish(tooLarge(shown, settings.maxBytes));
        chunks.push(chunk);
      });
      response.on('end', () => {
        if (!response.complete) return finish(new MetadataFetchError('network', `IdP metadata URL ${shown}: the connection closed before the whole body arrived`));
        finish(undefined, Buffer.concat(chunks).toString('utf8'));
      });
      response.on('error', (error) => finish(networkError(shown, error)));
    });
    request.on('error', (error) => finish(error instanceof MetadataFetchError ? error : networkError(shown, error)));
    const timer = setTimeout(() => finish(new MetadataFetchError('timeout', `IdP metadata URL ${shown} did not answer within ${settings.timeoutMs} ms`)), settings.timeoutMs);
    request.end();
  });
}

const tooLarge = (shown: string, maxBytes: number): MetadataFetchError =>
  new MetadataFetchError('too_large', `IdP metadata from ${shown} is larger than ${maxBytes} bytes`);

const networkError = (shown: string, error: Error): MetadataFetchError =>
  new MetadataFetchError('network', `IdP metadata URL ${shown} could not be fetched: ${error.message}`, { cause: error });

/** A redirect target for a message, without its query string or credentials. */
function redacted(location: string, base: URL): string {
  try {
    const url = new URL(location, base);
    return `${url.origin}${url.pathname}`;
  } catch {
    return '(an invalid URL)';
  }
}

/**
 * The `lookup` the request connects through: resolves every address of the host and refuses
 * the connection when any of them is not public, so the addresses checked are the ones used.
 * Answers in the form the caller asked for (one address, or all with `all: true`, as net's
 * happy-eyeballs connection does).
 */
export function guardedLookup(resolver: AddressResolver, allowPrivate: boolean, shown = 'the IdP metadata URL') {
  return (hostname: string, options: LookupOptions, callback: (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void): void => {
    resolver(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, '', 0);
      if (addresses.length === 0) return callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), '', 0);
      if (!allowPrivate) {
        for (const { address } of addresses) {
          const range = classifyAddress(address);
          if (range) return callback(privateAddress(shown, address, range), '', 0);
        }
      }
      if (options.all) return callback(null, addresses);
      const first = addresses[0] as LookupAddress;
      callback(null, first.address, first.family);
    });
  };
}

// --- address classification ---------------------------------------------------------------

type Subnet = readonly [network: string, prefix: number];

const RANGES: ReadonlyArray<readonly [label: string, ipv4: Subnet[], ipv6: Subnet[]]> = [
  ['unspecified', [['0.0.0.0', 8]], [['::', 128]]],
  ['loopback', [['127.0.0.0', 8]], [['::1', 128]]],
  ['private (RFC 1918)', [['10.0.0.0', 8], ['172.16.0.0', 12], ['192.168.0.0', 16]], []],
  ['carrier-grade NAT (RFC 6598)', [['100.64.0.0', 10]], []],
  ['link-local', [['169.254.0.0', 16]], [['fe80::', 10]]],
  ['IPv6 unique local', [], [['fc00::', 7]]],
  ['IPv6 site-local', [], [['fec0::', 10]]],
  ['multicast', [['224.0.0.0', 4]], [['ff00::', 8]]],
  // Teredo carries its server's and client's IPv4 addresses obfuscated (the client's bit-inverted)
  // and reaches them through a tunnel relay: no address here says where a connection ends up,
  // and no IdP publishes its metadata on a Teredo address, so the whole prefix is refused.
  ['Teredo (RFC 4380)', [], [['2001::', 32]]],
  [
    'reserved',
    [['192.0.0.0', 24], ['192.0.2.0', 24], ['198.18.0.0', 15], ['198.51.100.0', 24], ['203.0.113.0', 24], ['240.0.0.0', 4]],
    [['100::', 64], ['2001:db8::', 32]],
  ],
];

const BLOCKS: ReadonlyArray<readonly [string, BlockList]> = RANGES.map(([label, ipv4, ipv6]) => {
  const list = new BlockList();
  for (const [network, prefix] of ipv4) list.addSubnet(network, prefix, 'ipv4');
  for (const [network, prefix] of ipv6) list.addSubnet(network, prefix, 'ipv6');
  return [label, list] as const;
});

/**
 * The kind of non-public address this is ('loopback', 'private (RFC 1918)', ...), or undefined
 * for a public address. IPv6 forms that carry an IPv4 address (IPv4-mapped ::ffff:a.b.c.d,
 * IPv4-translated ::ffff:0:a.b.c.d, IPv4-compatible ::a.b.c.d, NAT64 64:ff9b::/96, local-use
 * NAT64 64:ff9b:1::/48, 6to4 2002::/16) are judged by that address; Teredo (2001::/32) is
 * refused whatever it carries. Anything that is not an IP address is refused as 'invalid'.
 */
export function classifyAddress(address: string): string | undefined {
  const plain = address.replace(/%.*$/, ''); // an IPv6 zone (fe80::1%eth0)
  const family = isIP(plain);
  if (family === 4) return BLOCKS.find(([, list]) => list.check(plain, 'ipv4'))?.[0];
  if (family !== 6) return 'invalid';
  const groups = ipv6Groups(plain);
  if (!groups) return 'invalid';
  const embedded = embeddedIpv4(groups);
  if (embedded) {
    const range = classifyAddress(embedded.address);
    if (range) return `${embedded.form} ${range}`;
  }
  return BLOCKS.find(([, list]) => list.check(plain, 'ipv6'))?.[0];
}

/** The eight 16-bit groups of an IPv6 address (validated by isIP before). */
function ipv6Groups(address: string): number[] | undefined {
  let text = address.toLowerCase();
  const quad = /^(.*:)(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (quad) {
    const [a, b, c, d] = quad.slice(2).map(Number) as [number, number, number, number];
    text = `${quad[1] ?? ''}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const parse = (part: string | undefined): number[] => (part ? part.split(':').map((group) => Number.parseInt(group, 16)) : []);
  const head = parse(halves[0]);
  const tail = parse(halves[1]);
  const fill = 8 - head.length - tail.length;
  if (halves.length === 1 ? head.length !== 8 : fill < 0) return undefined;
  const groups = [...head, ...Array<number>(halves.length === 1 ? 0 : fill).fill(0), ...tail];
  return groups.some((group) => !Number.isInteger(group) || group < 0 || group > 0xffff) ? undefined : groups;
}

function embeddedIpv4(groups: number[]): { form: string; address: string } | undefined {
  const v4 = (high: number, low: number): string => `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
  const [g0 = 0, g1 = 0, g2 = 0, g3 = 0, g4 = 0, g5 = 0, g6 = 0, g7 = 0] = groups;
  const zeroTo = (n: number): boolean => groups.slice(0, n).every((group) => group === 0);
  if (zeroTo(5) && g5 === 0xffff) return { form: 'IPv4-mapped', address: v4(g6, g7) };
  // ::ffff:0:a.b.c.d (SIIT, RFC 6145): a stateless translator on the path turns it into a.b.c.d.
  if (zeroTo(4) && g4 === 0xffff && g5 === 0) return { form: 'IPv4-translated', address: v4(g6, g7) };
  // ::a.b.c.d (deprecated IPv4-compatible); :: and ::1 themselves are left to the IPv6 ranges.
  if (zeroTo(6) && (g6 !== 0 || g7 > 1)) return { form: 'IPv4-compatible', address: v4(g6, g7) };
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0) return { form: 'NAT64', address: v4(g6, g7) };
  // 64:ff9b:1::/48 (RFC 8215) belongs to a translator inside the broker's own network, which
  // can reach private IPv4 addresses. Operators take a /96 out of it, so the IPv4 address is the
  // last 32 bits, as with 64:ff9b::/96. (A translator using a shorter prefix puts it elsewhere,
  // RFC 6052; like any network-specific prefix, the address alone cannot tell.)
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 1) return { form: 'local-use NAT64', address: v4(g6, g7) };
  if (g0 === 0x2002) return { form: '6to4', address: v4(g1, g2) };
  return undefined;
}
