// The README's first command: one process, the in-memory store, the dev IdP, the demo app, and a
// printed authorization URL that starts a real login. Run on free ports with the demo configs.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startMain, TestBrowser, type MainProcess } from '@broker/testing';

const DEMO = fileURLToPath(new URL('../../../config/demo/', import.meta.url));

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });

let dir = '';
let app: MainProcess;
let ports: { broker: number; idp: number; demo: number };

beforeAll(async () => {
  ports = { broker: await freePort(), idp: await freePort(), demo: await freePort() };
  dir = await mkdtemp(join(tmpdir(), 'all-in-one-'));
  const onPorts = (text: string) =>
    text
      .replaceAll('localhost:3000', `localhost:${ports.broker}`)
      .replaceAll('localhost:3001', `localhost:${ports.idp}`)
      .replaceAll('127.0.0.1:3002', `127.0.0.1:${ports.demo}`)
      .replace(/^port: 3001$/m, `port: ${ports.idp}`)
      .replaceAll('./dev-idp/', `${join(DEMO, 'dev-idp')}/`)
      .replace(/(keyFile|certFile): dev-idp\//g, `$1: ${join(DEMO, 'dev-idp')}/`);
  await writeFile(join(dir, 'broker.yaml'), onPorts(await readFile(join(DEMO, 'broker.yaml'), 'utf8')));
  await writeFile(join(dir, 'dev-idp.yaml'), onPorts(await readFile(join(DEMO, 'dev-idp.yaml'), 'utf8')));
  app = startMain('apps/all-in-one/src/main.ts', {
    BROKER_CONFIG: join(dir, 'broker.yaml'),
    DEV_IDP_CONFIG: join(dir, 'dev-idp.yaml'),
    PORT: String(ports.broker),
    DEMO_APP_PORT: String(ports.demo),
    REDIS_URL: undefined,
  });
  await app.waitForLog(/^all-in-one ready$/);
}, 60_000);

afterAll(async () => {
  expect(await app.stop()).toBe(0);
  await rm(dir, { recursive: true, force: true });
});

it('says it generated its keys, and prints a ready-to-open authorization URL', async () => {
  const output = app.output.join('\n');
  expect(output).toMatch(/generated ephemeral signing keys/);
  expect(output).toMatch(/generated an ephemeral cookie key/);
  await expect.poll(() => app.output.join('\n')).toMatch(/Open this authorization URL/);
  const url = /(http:\/\/localhost:\d+\/authorize\?\S+)/.exec(app.output.join('\n'))?.[1] ?? '';
  const printed = new URL(url);
  expect(printed.searchParams.get('client_id')).toBe('demo-native');
  expect(printed.searchParams.get('code_challenge_method')).toBe('S256');
});

it('completes the printed login as alice: discovery page, dev IdP, demo app signed in', async () => {
  const url = /(http:\/\/localhost:\d+\/authorize\?\S+)/.exec(app.output.join('\n'))?.[1] ?? '';
  const browser = new TestBrowser();
  const discovery = await browser.follow(await browser.get(url));
  expect(discovery.status, discovery.body).toBe(200);
  expect(discovery.body).toContain('Work email');
  const idpForm = await browser.follow(await browser.submit(discovery, { email: 'alice@acme.test' }));
  expect(idpForm.url).toContain(`localhost:${ports.idp}/sso`);
  const autoPost = await browser.submit(idpForm, { username: 'alice', password: 'alice-password' });
  const landed = await browser.follow(await browser.submit(autoPost));
  expect(landed.url).toContain(`127.0.0.1:${ports.demo}/callback`);
  expect(landed.body).toContain('Signed in as <strong>alice@acme.test</strong>');

  // RP-initiated logout: the broker asks for confirmation, ends its session, and returns to the
  // app's registered post-logout URI; the next sign-in needs the IdP again.
  const confirm = await browser.follow(await browser.get(`http://127.0.0.1:${ports.demo}/logout`));
  expect(confirm.url).toContain(`localhost:${ports.broker}/logout`);
  const signedOut = await browser.follow(await browser.submit(confirm, { logout: 'yes' }));
  expect(signedOut.url).toBe(`http://127.0.0.1:${ports.demo}/signed-out`);
  expect(signedOut.body).toContain('You are signed out');
  const again = await browser.follow(await browser.get(`http://127.0.0.1:${ports.demo}/login`));
  expect(again.body).toContain('Work email');
}, 30_000);

it('needs no Redis: the process runs with REDIS_URL unset and answers /readyz', async () => {
  expect(await (await fetch(`http://localhost:${ports.broker}/readyz`)).text()).toBe('ready');
});
