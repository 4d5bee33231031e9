import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '@broker/telemetry';
import { BrokerError, badRequest, notFound } from './errors.ts';
import { errorHandler, requestId, securityHeaders } from './middleware.ts';

interface LogLine {
  level: number;
  msg: string;
  requestId?: string;
  code?: string;
  status?: number;
  detail?: Record<string, unknown>;
  err?: { message?: string; stack?: string };
  [key: string]: unknown;
}

const lines: LogLine[] = [];
const logger = createLogger({ service: 'http-test', level: 'debug', destination: { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) } });

const SECRET_DETAIL = 'internal-detail-7f3a9c';
const app = express();
app.use(requestId(), securityHeaders());
app.get('/broker-400', () => {
  throw badRequest('test.bad_input', 'That did not work. Please start again.', { reason: SECRET_DETAIL, path: '/srv/app/internal.ts' });
});
app.get('/broker-404', () => {
  throw notFound('test.not_found', 'We do not know this thing.', { id: SECRET_DETAIL });
});
app.get('/broker-403-async', async () => {
  await Promise.resolve();
  throw new BrokerError({ code: 'test.forbidden', status: 403, publicMessage: 'Not for you.', detail: { who: SECRET_DETAIL }, cause: new Error(SECRET_DETAIL) });
});
app.get('/escaped', () => {
  throw badRequest('test.escape', 'Bad <script>alert(1)</script> & "quotes"');
});
app.get('/crash', () => {
  throw new TypeError(`Cannot read properties of undefined (reading '${SECRET_DETAIL}')`);
});
app.get('/crash-async', async () => {
  await Promise.resolve();
  throw new Error(`connect ECONNREFUSED 10.0.0.7:6379 ${SECRET_DETAIL}`);
});
app.get('/crash-string', () => {
  // eslint-disable-next-line @typescript-eslint/only-throw-error -- the handler must cope with non-Error throws
  throw SECRET_DETAIL;
});
app.post('/json', express.json({ limit: '100b' }), (_req, res) => {
  res.send('ok');
});
app.use(errorHandler(logger));

let server: Server;
let base: string;
beforeAll(async () => {
  server = createServer(app).listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});
beforeEach(() => {
  lines.length = 0;
});

async function get(path: string, init: RequestInit = {}) {
  const response = await fetch(`${base}${path}`, init);
  return { status: response.status, headers: response.headers, body: await response.text(), reference: response.headers.get('x-request-id') ?? '' };
}

/** The page a person sees for any error: the reference, nothing internal. */
function expectSafeErrorPage(page: { headers: Headers; body: string; reference: string }, forbidden: string[] = []): void {
  expect(page.headers.get('content-type')).toMatch(/^text\/html/);
  expect(page.reference).toMatch(/^[A-Za-z0-9-]{8,64}$/);
  expect(page.body).toContain(`<code>${page.reference}</code>`);
  expect(page.body).not.toContain(SECRET_DETAIL);
  expect(page.body).not.toMatch(/\n\s*at \S/); // stack frames
  expect(page.body).not.toMatch(/[\w/\\-]+\.(?:ts|js|mjs|cjs):\d+/); // file:line
  expect(page.body).not.toMatch(/node_modules|Error:|BrokerError|TypeError/);
  for (const text of forbidden) expect(page.body).not.toContain(text);
  // Security headers reach error pages too.
  expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
  expect(page.headers.get('x-content-type-options')).toBe('nosniff');
}

const linesFor = (reference: string) => lines.filter((line) => line.requestId === reference);

describe('errorHandler', () => {
  it('answers a BrokerError with its status and a plain page with the reference, logging the detail', async () => {
    const page = await get('/broker-400');
    expect(page.status).toBe(400);
    expect(page.body).toContain('That did not work. Please start again.');
    expect(page.body).toContain('Sign-in could not continue');
    expectSafeErrorPage(page, ['test.bad_input', '/srv/app/internal.ts']);

    const [line, ...rest] = linesFor(page.reference);
    expect(rest).toEqual([]);
    expect(line).toMatchObject({ level: 40, code: 'test.bad_input', status: 400, detail: { reason: SECRET_DETAIL }, method: 'GET', path: '/broker-400' });
  });

  it('uses the status of notFound and of errors thrown by async handlers', async () => {
    const missing = await get('/broker-404');
    expect(missing.status).toBe(404);
    expect(missing.body).toContain('We do not know this thing.');
    expectSafeErrorPage(missing, ['test.not_found']);
    expect(linesFor(missing.reference)[0]).toMatchObject({ code: 'test.not_found', status: 404 });

    const forbidden = await get('/broker-403-async');
    expect(forbidden.status).toBe(403);
    expectSafeErrorPage(forbidden, ['test.forbidden']);
    expect(linesFor(forbidden.reference)[0]).toMatchObject({ code: 'test.forbidden', status: 403, detail: { who: SECRET_DETAIL } });
  });

  it('escapes the public message', async () => {
    const page = await get('/escaped');
    expect(page.body).not.toContain('<script>');
    expect(page.body).toContain('Bad &lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot;');
  });

  it('answers any other error with a 500 of the same shape, and logs it with its stack', async () => {
    for (const path of ['/crash', '/crash-async', '/crash-string']) {
      const page = await get(path);
      expect(page.status, path).toBe(500);
      expect(page.body).toContain('Something went wrong');
      expect(page.body).toContain('The sign-in service had a problem. Please try again.');
      expectSafeErrorPage(page, ['ECONNREFUSED', '10.0.0.7']);
      const [line, ...rest] = linesFor(page.reference);
      expect(rest).toEqual([]);
      expect(line).toMatchObject({ level: 50, msg: 'unhandled error', path });
    }
    const crash = await get('/crash');
    expect(linesFor(crash.reference)[0]?.err?.stack).toMatch(/TypeError: Cannot read properties/);
  });

  it('treats body-parser failures as client errors', async () => {
    const malformed = await get('/json', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a": ' });
    expect(malformed.status).toBe(400);
    expect(malformed.body).toContain('The request could not be read.');
    expectSafeErrorPage(malformed, ['Unexpected', 'JSON']);
    expect(linesFor(malformed.reference)[0]).toMatchObject({ code: 'http.bad_request', status: 400 });

    const tooLarge = await get('/json', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ a: 'x'.repeat(500) }) });
    expect(tooLarge.status).toBe(413);
    expectSafeErrorPage(tooLarge, ['too large', 'limit']);
    expect(linesFor(tooLarge.reference)[0]).toMatchObject({ code: 'http.bad_request', status: 413 });
  });

  it('falls through to the next handler for unknown routes (no error)', async () => {
    const page = await get('/no-such-route');
    expect(page.status).toBe(404);
    expect(lines).toEqual([]);
  });
});

describe('requestId', () => {
  it('keeps a well-formed incoming X-Request-Id and replaces anything else', async () => {
    const kept = await get('/broker-400', { headers: { 'x-request-id': 'ingress-1234-abcd' } });
    expect(kept.reference).toBe('ingress-1234-abcd');
    expect(kept.body).toContain('<code>ingress-1234-abcd</code>');

    for (const incoming of ['short', 'has spaces in it', '<script>alert(1)</script>', 'x'.repeat(65)]) {
      const replaced = await get('/broker-400', { headers: { 'x-request-id': incoming } });
      expect(replaced.reference, incoming).toMatch(/^[0-9a-f-]{36}$/);
      expect(replaced.body).not.toContain(incoming);
    }
  });

  it('gives every request its own id', async () => {
    const a = await get('/broker-400');
    const b = await get('/broker-400');
    expect(a.reference).not.toBe(b.reference);
  });
});
