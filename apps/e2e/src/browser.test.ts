// A person in a real browser (Debian's Chromium, driven by playwright-core): the all-in-one
// process with the demo configuration (on free ports), from the demo app's "sign in" to the demo
// app showing who signed in. Everything a script-less client would miss runs for real here:
// the dev IdP's auto-POST script under its CSP nonce, cookies, redirects, form submission.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import type { BrokerConfigInput } from '@broker/config';
import { workspaceRoot } from '@broker/testing';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
const inCi = process.env['CI'] === 'true';
const chromiumInstalled = existsSync(CHROMIUM);

/** Outside CI a missing Chromium skips this suite, loudly; in CI the suite runs and fails. */
function skipWithoutChromium(): boolean {
  if (chromiumInstalled || inCi) return false;
  process.stderr.write(`\n*** Browser test SKIPPED: no Chromium at ${CHROMIUM} (apt-get install chromium). In CI (CI=true) it fails the run instead. ***\n`);
  return true;
}

const DEMO_DIR = join(workspaceRoot, 'config', 'demo');
// The demo configuration's own origins, replaced by this run's.
const DEMO_ISSUER = 'http://localhost:3000';
const DEMO_IDP = 'http://localhost:3001';

/** Free ports: listen on port 0 (every server open until all are picked, so none repeats), then close. */
async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < count; i++) {
      const server = createServer();
      servers.push(server);
      server.listen(0);
      await once(server, 'listening');
      const address = server.address();
      if (typeof address !== 'object' || address === null) throw new Error('no port');
      ports.push(address.port);
    }
    return ports;
  } finally {
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  }
}

interface DevIdpYaml {
  entityId: string;
  baseUrl: string;
  port?: number;
  signing: { keyFile: string; certFile: string };
  serviceProviders: Array<{ entityId: string; acsUrls: string[] }>;
}

/**
 * Copies of config/demo/broker.yaml and dev-idp.yaml for this run's ports: the issuer, the dev
 * IdP's URLs and port, the demo app's login-initiation URI; key files by absolute path.
 */
async function writeDemoConfigs(dir: string, ports: { broker: number; idp: number; demo: number }): Promise<{ broker: string; devIdp: string; issuer: string; idpUrl: string }> {
  const issuer = `http://localhost:${ports.broker}`;
  const idpUrl = `http://localhost:${ports.idp}`;
  const moveOrigins = (url: string): string => url.replace(DEMO_ISSUER, issuer).replace(DEMO_IDP, idpUrl);

  const broker = parseYaml(await readFile(join(DEMO_DIR, 'broker.yaml'), 'utf8')) as BrokerConfigInput;
  broker.issuer = issuer;
  for (const tenant of broker.tenants) {
    for (const connection of tenant.connections ?? []) {
      const { idp } = connection;
      if (idp.entityId) idp.entityId = moveOrigins(idp.entityId);
      if (idp.ssoUrl) idp.ssoUrl = moveOrigins(idp.ssoUrl);
      idp.certificates = idp.certificates?.map((certificate) => (typeof certificate === 'string' ? certificate : { file: join(DEMO_DIR, certificate.file) }));
    }
  }
  for (const client of broker.clients) {
    if (client.clientId === 'demo-native') client.initiateLoginUri = `http://127.0.0.1:${ports.demo}/login`;
  }

  const devIdp = parseYaml(await readFile(join(DEMO_DIR, 'dev-idp.yaml'), 'utf8')) as DevIdpYaml;
  devIdp.entityId = moveOrigins(devIdp.entityId);
  devIdp.baseUrl = idpUrl;
  devIdp.port = ports.idp;
  devIdp.signing = { keyFile: join(DEMO_DIR, devIdp.signing.keyFile), certFile: join(DEMO_DIR, devIdp.signing.certFile) };
  devIdp.serviceProviders = devIdp.serviceProviders.map((sp) => ({ ...sp, entityId: moveOrigins(sp.entityId), acsUrls: sp.acsUrls.map(moveOrigins) }));

  const paths = { broker: join(dir, 'broker.yaml'), devIdp: join(dir, 'dev-idp.yaml') };
  await writeFile(paths.broker, stringifyYaml(broker));
  await writeFile(paths.devIdp, stringifyYaml(devIdp));
  return { ...paths, issuer, idpUrl };
}

describe.skipIf(skipWithoutChromium())('in a browser: all-in-one, the demo app, Chromium', () => {
  let dir = '';
  let allInOne: ChildProcess | undefined;
  let exited = false;
  const output: string[] = [];
  let browser: Browser | undefined;
  let demoUrl = '';
  let issuer = '';
  let idpUrl = '';

  beforeAll(async () => {
    if (!chromiumInstalled) throw new Error(`Chromium is required in CI (CI=true) but ${CHROMIUM} is missing: apt-get install chromium`);
    dir = await mkdtemp(join(tmpdir(), 'broker-browser-'));
    const [brokerPort = 0, idpPort = 0, demoPort = 0] = await freePorts(3);
    const configs = await writeDemoConfigs(dir, { broker: brokerPort, idp: idpPort, demo: demoPort });
    ({ issuer, idpUrl } = configs);
    demoUrl = `http://127.0.0.1:${demoPort}`;

    // Exactly as `npm start` runs it; its own process group, so stopping it reaches tsx's child.
    allInOne = spawn(join(workspaceRoot, 'node_modules', '.bin', 'tsx'), ['apps/all-in-one/src/main.ts'], {
      cwd: workspaceRoot,
      env: {
        ...process.env,
        PATH: [join(workspaceRoot, 'node_modules', '.bin'), process.env['PATH'] ?? ''].join(delimiter),
        PORT: String(brokerPort),
        DEMO_APP_PORT: String(demoPort),
        BROKER_CONFIG: configs.broker,
        DEV_IDP_CONFIG: configs.devIdp,
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    allInOne.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')));
    allInOne.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')));
    allInOne.once('exit', () => {
      exited = true;
    });

    // The demo app listens last (after discovering the broker): it answering means all is up.
    const deadline = Date.now() + 45_000;
    for (;;) {
      if (exited) throw new Error(`all-in-one exited before it was ready:\n${output.join('')}`);
      try {
        const response = await fetch(`${demoUrl}/`, { signal: AbortSignal.timeout(1_000) });
        await response.body?.cancel();
        if (response.status === 200) break;
      } catch {
        // Not listening yet.
      }
      if (Date.now() > deadline) throw new Error(`all-in-one was not ready in time:\n${output.join('')}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }

    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    if (allInOne?.pid !== undefined && !exited) {
      const pid = allInOne.pid;
      const stopped = once(allInOne, 'exit');
      process.kill(-pid, 'SIGTERM');
      const timer = setTimeout(() => {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          // Gone already.
        }
      }, 5_000);
      await stopped;
      clearTimeout(timer);
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 30_000);

  /** Alice, from the demo app's sign-in to its callback (which redeems the code). */
  async function signInThroughDemoApp(page: Page): Promise<void> {
    await page.goto(`${demoUrl}/login`);
    // The broker's discovery page (home-realm discovery): the work email.
    expect(page.url()).toMatch(new RegExp(`^${issuer}/interaction/`));
    await page.getByLabel('Work email').fill('alice@acme.test');
    await page.getByRole('button', { name: 'Continue' }).click();

    // The dev IdP's login form.
    await page.waitForURL((url) => url.href.startsWith(`${idpUrl}/sso`));
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill('alice-password');
    await page.getByRole('button', { name: 'Sign in' }).click();

    // The auto-POST to the broker, the broker's redirects, and the demo app's callback, which
    // redeems the code and shows the user.
    await page.waitForURL((url) => url.href.startsWith(`${demoUrl}/callback`), { timeout: 15_000 });
  }

  it('alice opens the demo app, types her email, signs in at the dev IdP and is back in the app, signed in', async () => {
    if (!browser) throw new Error('no browser');
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      // Every page the tab loads, in order.
      const visited: string[] = [];
      page.on('framenavigated', (frame) => {
        if (frame === page.mainFrame()) visited.push(frame.url());
      });

      await signInThroughDemoApp(page);
      const text = (await page.locator('body').innerText()).replace(/\s+/g, ' ');
      expect(text, output.join('').slice(-3_000)).toContain('Signed in as alice@acme.test');
      expect(text).toContain('"tenant": "acme"');

      const paths = visited.map((url) => {
        const u = new URL(url);
        return `${u.origin}${u.pathname.replace(/^\/(interaction|authorize)\/[^/]+/, '/$1/<uid>')}`;
      });
      expect(paths).toEqual([
        `${issuer}/interaction/<uid>`,
        `${idpUrl}/sso`,
        `${idpUrl}/login`,
        `${demoUrl}/callback`,
      ]);
    } finally {
      await context.close();
    }
  }, 60_000);
  it('asked again by a native app (another loopback port), signed-in alice confirms it, and the form_post answer reaches the app through its auto-submitting page', async () => {
    if (!browser) throw new Error('no browser');
    // The "other" native app: a loopback listener on a port of its own, taking the form_post.
    const posts: string[] = [];
    const app = createHttpServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      req.on('end', () => {
        posts.push(`${req.method ?? ''} ${body}`);
        res.end('You can close this window.');
      });
    });
    app.listen(0, '127.0.0.1');
    await once(app, 'listening');
    const address = app.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      // Alice signs in through the demo app first: the broker now has her session.
      await signInThroughDemoApp(page);

      // Any app on the machine can use demo-native's client_id with a loopback port of its own
      // (RFC 8252 section 8.6): from the existing session there is no IdP step, so the broker asks.
      const authorize = new URL(`${issuer}/authorize`);
      const verifier = randomBytes(32).toString('base64url');
      for (const [name, value] of Object.entries({
        client_id: 'demo-native',
        response_type: 'code',
        response_mode: 'form_post',
        redirect_uri: `http://127.0.0.1:${port}/callback`,
        scope: 'openid email',
        state: 'other-port',
        code_challenge: createHash('sha256').update(verifier).digest('base64url'),
        code_challenge_method: 'S256',
      }))
        authorize.searchParams.set(name, value);
      await page.goto(authorize.href);
      expect(page.url()).toMatch(new RegExp(`^${issuer}/interaction/`));
      expect(posts).toEqual([]);
      await page.getByRole('button', { name: 'Allow' }).click();

      // oidc-provider's form_post page submits itself under the CSP (its script's hash).
      const deadline = Date.now() + 15_000;
      while (posts.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      expect(posts).toHaveLength(1);
      const [method, body] = (posts[0] ?? '').split(' ');
      expect(method).toBe('POST');
      const fields = new URLSearchParams(body);
      expect(fields.get('state')).toBe('other-port');
      expect(fields.get('code')).toMatch(/^[\w-]{20,}$/);
    } finally {
      await context.close();
      await new Promise((resolve) => app.close(resolve));
    }
  }, 60_000);
});
