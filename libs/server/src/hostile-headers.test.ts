// In-process on a real Redis, the broker with an https issuer (served over plain HTTP here, as
// behind a TLS-terminating proxy): request headers cannot change its public origin. Endpoint URLs
// come from the issuer whatever X-Forwarded-Host or Host say, oidc-provider's cookies stay Secure
// whatever X-Forwarded-Proto says (or when it is missing), HSTS is sent; and a pending-login
// cookie that does not decode is cleared instead of breaking every sign-in.
import { request } from 'node:http';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisTestSupport } from '@broker/store/testing';
import { authorizeUrl } from './test/broker-test-support.ts';
import { startDemoBroker, type DemoBroker } from './test/demo-broker.ts';

const { redisAvailable, redisTestUrl, requireRedisInCi, skipRedisTests } = redisTestSupport;
const url = redisTestUrl();
const available = await redisAvailable(url);

const CLIENT = { id: 'demo-backend', redirectUri: 'http://localhost:8080/callback' };

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A GET with exactly these headers (fetch would not let us set Host). */
function get(target: string, headers: Record<string, string>): Promise<Reply> {
  const { hostname, port, pathname, search } = new URL(target);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, path: `${pathname}${search}`, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe.skipIf(skipRedisTests(available, url))('broker on Redis: request headers do not move its public origin', () => {
  let harness: DemoBroker | undefined;
  /** The https issuer, and where it is really served (plain HTTP, as behind a TLS proxy). */
  let issuer = '';
  let served = '';

  beforeAll(async () => {
    requireRedisInCi(available, url);
    harness = await startDemoBroker({ redisUrl: url, prefix: `test:headers:${randomUUID()}:`, configure: (config) => ({ ...config, issuer: config.issuer.replace('http://', 'https://') }) });
    issuer = harness.issuer.replace('http://', 'https://');
    served = harness.issuer;
  });
  afterAll(async () => {
    await harness?.close();
  });

  it('discovery names the issuer’s origin for every endpoint, whatever X-Forwarded-Host, X-Forwarded-Proto or Host say', async () => {
    const host = new URL(issuer).host;
    const variants: Record<string, string>[] = [{}, { 'x-forwarded-host': 'evil.example' }, { 'x-forwarded-proto': 'http' }, { host: 'evil.example' }, { host: 'evil.example', 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'http' }];
    for (const headers of variants) {
      const reply = await get(`${served}/.well-known/openid-configuration`, { host, ...headers });
      expect(reply.status).toBe(200);
      const discovery = JSON.parse(reply.body) as Record<string, unknown>;
      expect(discovery['issuer']).toBe(issuer);
      const endpoints = Object.entries(discovery).filter(([name, value]) => name.endsWith('_endpoint') || name === 'jwks_uri' ? typeof value === 'string' : false);
      expect(endpoints.length).toBeGreaterThan(4);
      for (const [name, value] of endpoints) expect(String(value), `${name} with ${JSON.stringify(headers)}`).toMatch(new RegExp(`^${issuer.replace(/[.:/]/g, '\\$&')}/`));
      expect(reply.headers['strict-transport-security']).toBe('max-age=31536000');
    }
  });

  it('oidc-provider’s cookies are Secure whatever X-Forwarded-Proto says', async () => {
    const host = new URL(issuer).host;
    const variants: Record<string, string>[] = [{}, { 'x-forwarded-proto': 'http' }, { 'x-forwarded-proto': 'https' }];
    for (const headers of variants) {
      const reply = await get(authorizeUrl(served, CLIENT, { tenant: 'acme' }), { host, ...headers });
      expect(reply.status).toBe(303);
      expect(String(reply.headers['location'])).toMatch(/^\/interaction\//);
      const cookies = (reply.headers['set-cookie'] ?? []) as string[];
      expect(cookies.some((cookie) => cookie.startsWith('_interaction='))).toBe(true);
      for (const cookie of cookies) expect(cookie.toLowerCase(), `${cookie} with ${JSON.stringify(headers)}`).toContain('; secure');
    }
  });

  it('a pending-login cookie that does not decode is cleared, and the sign-in goes on', async () => {
    const host = new URL(issuer).host;
    const started = await get(authorizeUrl(served, CLIENT), { host });
    const interaction = new URL(String(started.headers['location']), served);
    const cookies = ((started.headers['set-cookie'] ?? []) as string[]).map((cookie) => cookie.split(';')[0]).join('; ');
    const page = await get(`${served}${interaction.pathname}`, { host, cookie: `${cookies}; broker_pending_login=%E0%A4%A` });
    expect(page.status, page.body.slice(0, 300)).toBe(200);
    expect(page.body).toContain('Work email');
    expect(((page.headers['set-cookie'] ?? []) as string[]).some((cookie) => cookie.startsWith('broker_pending_login=;'))).toBe(true);
  });
});
