// In-process integration on a real Redis: what one login reads from the store. After a first
// login has filled the read cache, a login (the code flow through the dev IdP, the code exchange
// and userinfo) reads no tenant, connection or client record, the interaction once per portal
// step, and the session once at the token endpoint and once at userinfo.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '@broker/store';
import { redisTestSupport } from '@broker/store/testing';
import { TestBrowser, parseForm } from '@broker/testing';
import { startDemoBroker, type DemoBroker } from './test/demo-broker.ts';

const { redisAvailable, redisTestUrl, requireRedisInCi, skipRedisTests } = redisTestSupport;
const url = redisTestUrl();
const available = await redisAvailable(url);

const CLIENT = { id: 'demo-backend', secret: 'demo-backend-secret-not-for-production', redirectUri: 'http://localhost:8080/callback' };
const ALICE = { username: 'alice', password: 'alice-password' };

describe.skipIf(skipRedisTests(available, url))('broker on Redis: store reads per login', () => {
  const prefix = `test:reads:${randomUUID()}:`;
  let harness: DemoBroker | undefined;
  const reads: string[] = [];
  /** Every key read (get, take), without the id part of oidc-provider keys. */
  const counting = (store: Store): Store => ({
    ...store,
    get: (key) => {
      reads.push(key);
      return store.get(key);
    },
    take: (key) => {
      reads.push(key);
      return store.take(key);
    },
  });

  beforeAll(async () => {
    requireRedisInCi(available, url);
    // A TTL longer than the test, so the second login runs on a warm cache however slow the machine.
    harness = await startDemoBroker({ redisUrl: url, prefix, wrapStore: counting, configure: (config) => ({ ...config, cache: { directoryTtlSeconds: 60 } }) });
  });
  afterAll(async () => {
    await harness?.close();
  });

  /** A whole login of demo-backend: authorization, the dev IdP, the code exchange, userinfo. */
  async function login(broker: DemoBroker): Promise<void> {
    const verifier = randomBytes(32).toString('base64url');
    const authorize = new URL(`${broker.issuer}/authorize`);
    for (const [name, value] of Object.entries({
      client_id: CLIENT.id,
      response_type: 'code',
      redirect_uri: CLIENT.redirectUri,
      scope: 'openid email profile',
      state: randomBytes(8).toString('hex'),
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
      tenant: 'acme',
    })) {
      authorize.searchParams.set(name, value);
    }
    const browser = new TestBrowser();
    const start = await browser.get(authorize.href);
    const toIdp = await browser.follow(start, (location) => location.startsWith(broker.idpBase));
    const loginPage = await browser.get(toIdp.location ?? '');
    const autoPost = await browser.submit(loginPage, ALICE);
    const form = parseForm(autoPost.body, autoPost.url);
    const accepted = await browser.post(form.action, form.fields);
    const done = await browser.follow(accepted, (location) => location.startsWith(CLIENT.redirectUri));
    const code = new URL(done.location ?? '').searchParams.get('code') ?? '';
    expect(code).not.toBe('');

    const token = await fetch(`${broker.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${CLIENT.id}:${CLIENT.secret}`).toString('base64')}` },
      body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: CLIENT.redirectUri, code_verifier: verifier }),
    });
    const tokens = (await token.json()) as { access_token?: string; id_token?: string };
    expect(token.status).toBe(200);
    expect(tokens.id_token).toBeTypeOf('string');
    const userinfo = await fetch(`${broker.issuer}/userinfo`, { headers: { authorization: `Bearer ${tokens.access_token ?? ''}` } });
    expect(userinfo.status).toBe(200);
    expect(await userinfo.json()).toMatchObject({ email: 'alice@acme.test', tenant: 'acme' });
  }

  it('reads tenants, connections and clients from the cache, the interaction once per portal step and the session once per token-service request', async () => {
    if (!harness) throw new Error('no broker');
    await login(harness); // fills the read cache
    reads.length = 0;
    await login(harness);
    const count = (pattern: RegExp) => reads.filter((key) => pattern.test(key)).length;
    expect(count(/^client:/)).toBe(0);
    expect(count(/^tenant(-by-[a-z-]+)?:/)).toBe(0);
    expect(count(/^cors-origin:/)).toBe(0);
    // The interaction page, its completion, and the resumed authorization: one read each.
    expect(count(/^oidc:Interaction:/)).toBe(3);
    // The token endpoint and userinfo: the session binding check, one read each (uid, then Session).
    expect(count(/^oidc:uid:/)).toBe(2);
    expect(count(/^oidc:Session:/)).toBe(2);
  });
});
