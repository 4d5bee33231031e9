// In-process integration on a Redis server of the test's own (started on a free port and stopped
// mid-login): while the store cannot serve, every endpoint answers 503 temporarily_unavailable
// with Retry-After, never a 500, and the log names the reason without the command's data.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisTestSupport } from '@broker/store/testing';
import { TestBrowser, parseForm } from '@broker/testing';
import { authorizeUrl } from './test/broker-test-support.ts';
import { startDemoBroker, type DemoBroker } from './test/demo-broker.ts';

const CLIENT = { id: 'demo-backend', secret: 'demo-backend-secret-not-for-production', redirectUri: 'http://localhost:8080/callback' };

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (typeof address !== 'object' || address === null) throw new Error('no port');
  return address.port;
}

/** A redis-server of this test's own: nothing kept on disk, stopped and started at will. */
function ownRedis(port: number) {
  let child: ChildProcess | undefined;
  return {
    url: `redis://127.0.0.1:${port}`,
    async start(): Promise<void> {
      child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
      const url = `redis://127.0.0.1:${port}`;
      for (let i = 0; i < 50 && !(await redisTestSupport.redisAvailable(url, 200)); i++) await sleep(100);
      if (!(await redisTestSupport.redisAvailable(url, 500))) throw new Error(`redis-server did not start on port ${port}`);
    },
    async stop(): Promise<void> {
      const running = child;
      child = undefined;
      if (!running || running.exitCode !== null) return;
      const exited = new Promise((resolve) => running.once('exit', resolve));
      running.kill('SIGKILL');
      await exited;
    },
  };
}

// redis-server is on every machine that runs the Redis suites (CI starts one with it).
const available = await redisTestSupport.redisAvailable(redisTestSupport.redisTestUrl());

describe.skipIf(redisTestSupport.skipRedisTests(available, redisTestSupport.redisTestUrl()))('broker while its Redis is down', () => {
  let redis: ReturnType<typeof ownRedis>;
  let h: DemoBroker;
  beforeAll(async () => {
    redis = ownRedis(await freePort());
    await redis.start();
    h = await startDemoBroker({ redisUrl: redis.url, prefix: `test:store-outage:${randomUUID()}:` });
    h.admin.on('error', () => undefined); // the inspecting connection sees the outage too
  }, 30_000);
  afterAll(async () => {
    await redis?.start(); // back (empty), so the broker closes cleanly
    await h?.close();
    await redis?.stop();
  }, 30_000);

  it('answers 503 temporarily_unavailable with Retry-After at every step, and logs the reason without data', async () => {
    // A login up to the IdP's auto-POST form, so the ACS has something to refuse afterwards.
    const browser = new TestBrowser();
    const toIdp = await browser.follow(await browser.get(authorizeUrl(h.issuer, CLIENT, { tenant: 'acme' })), (l) => l.startsWith(h.idpBase));
    const autoPost = await browser.submit(await browser.get(toIdp.location ?? ''), { username: 'alice', password: 'alice-password' });
    const form = parseForm(autoPost.body, autoPost.url);

    await redis.stop();

    const acs = await browser.post(form.action, form.fields);
    expect(acs.status).toBe(503);
    expect(acs.headers.get('retry-after')).toBe('5');
    expect(acs.body).toContain('briefly unavailable');

    const authorize = await new TestBrowser().get(authorizeUrl(h.issuer, CLIENT, { tenant: 'acme', state: 'fresh' }));
    expect(authorize.status).toBe(503);
    expect(authorize.headers.get('retry-after')).toBe('5');

    const token = await fetch(`${h.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${CLIENT.id}:${CLIENT.secret}`).toString('base64')}` },
      body: new URLSearchParams({ grant_type: 'authorization_code', code: 'a'.repeat(43), redirect_uri: CLIENT.redirectUri, code_verifier: 'v'.repeat(43) }),
    });
    expect(token.status).toBe(503);
    expect(token.headers.get('retry-after')).toBe('5');
    expect(await token.json()).toMatchObject({ error: 'temporarily_unavailable' });

    const serverErrors = h.lines.filter((line) => line['level'] === 50);
    expect(serverErrors).toEqual([]);
    const unavailable = h.lines.filter((line) => line['msg'] === 'service unavailable' || line['error'] === 'temporarily_unavailable');
    expect(unavailable.length).toBeGreaterThanOrEqual(2);
    expect(JSON.stringify(h.lines)).not.toContain('alice@acme.test');
  }, 60_000);
});
