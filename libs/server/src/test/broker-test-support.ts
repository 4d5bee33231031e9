// Helpers for in-process integration tests of the broker on a real Redis (bad-input.test.ts,
// saml-attacks.security.test.ts): servers on free ports, Redis key snapshots, an OIDC
// authorization request with PKCE, and the checks every refused request must pass.
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Redis } from 'ioredis';
import { expect } from 'vitest';
import type { Page } from '@broker/testing';

/** One JSON log line of the broker's logger, as a test captured it. */
export interface LogLine {
  level: number;
  msg: string;
  requestId?: string;
  code?: string;
  [key: string]: unknown;
}

/** A server on a free port, before its request handler exists (so URLs can name the port). */
export async function listenOnFreePort(host?: string): Promise<{ server: Server; port: number }> {
  const server = createServer();
  if (host) server.listen(0, host);
  else server.listen(0);
  await once(server, 'listening');
  return { server, port: (server.address() as AddressInfo).port };
}

export async function closeServer(server: Server | undefined): Promise<void> {
  if (!server?.listening) return;
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
}

/** Every Redis key under `prefix`, without the prefix (SCAN, never KEYS). */
export async function keysUnder(redis: Redis, prefix: string): Promise<Set<string>> {
  const found = new Set<string>();
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    for (const key of batch) found.add(key.slice(prefix.length));
    cursor = next;
  } while (cursor !== '0');
  return found;
}

/** The keys of `after` that `before` did not have. */
export const addedKeys = (before: ReadonlySet<string>, after: ReadonlySet<string>): string[] => [...after].filter((key) => !before.has(key)).sort();

/** An authorization request (code flow, PKCE S256) of `client` at the broker, with extra parameters. */
export function authorizeUrl(issuer: string, client: { id: string; redirectUri: string }, params: Record<string, string> = {}): string {
  const verifier = randomBytes(32).toString('base64url');
  const target = new URL(`${issuer}/authorize`);
  const query = {
    client_id: client.id,
    response_type: 'code',
    redirect_uri: client.redirectUri,
    scope: 'openid email profile',
    state: randomBytes(8).toString('hex'),
    nonce: randomBytes(8).toString('hex'),
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
    ...params,
  };
  for (const [name, value] of Object.entries(query)) target.searchParams.set(name, value);
  return target.href;
}

/**
 * The one kind of key a refused ACS post adds by design: the connection's diagnostics list
 * (`saml:diag:<connection>`: codes and support fields for administrators, no personal data).
 */
export const DIAGNOSTICS_KEY = /^saml:diag:[^:]+$/;

/** What the refusal checks need from the test: a Redis key snapshot and the captured log. */
export interface RefusalContext {
  snapshot: () => Promise<Set<string>>;
  lines: readonly LogLine[];
  /** New keys a refusal may add (default: the diagnostics list, DIAGNOSTICS_KEY). */
  allowedNewKey?: (key: string) => boolean;
}

export interface ExpectedRefusal {
  status: number;
  code: string;
  /** The key snapshot taken right before the refused request. */
  before: ReadonlySet<string>;
  /** Text that must not appear on the page (besides the code itself). */
  hidden?: readonly string[];
}

/**
 * The checks every refused input must pass: status, a plain page with the reference from
 * X-Request-Id, no stack or internals, no key added to Redis since `before` (but the
 * diagnostics list, unless the context says otherwise), and a log line with that reference and
 * the expected code.
 */
export async function expectRefusedPage(context: RefusalContext, page: Page, expected: ExpectedRefusal): Promise<void> {
  expect(page.status, page.body).toBe(expected.status);
  expect(page.location).toBeUndefined();
  expect(page.headers.get('content-type')).toMatch(/^text\/html/);
  const reference = page.headers.get('x-request-id') ?? '';
  expect(reference).toMatch(/^[0-9a-f-]{36}$/);
  expect(page.body).toContain(`<code>${reference}</code>`);

  expect(page.body).not.toMatch(/\bat \S+ \(|\n\s+at \S/); // stack frames
  expect(page.body).not.toMatch(/[\w/\\.-]+\.(?:ts|js|mjs|cjs)(?::\d+)?/); // source files
  expect(page.body).not.toMatch(/node_modules|\/work\/|Error\b|SamlRejection|BrokerError/);
  for (const text of [expected.code, ...(expected.hidden ?? [])]) expect(page.body, `body shows ${text}`).not.toContain(text);

  const allowed = context.allowedNewKey ?? ((key: string) => DIAGNOSTICS_KEY.test(key));
  const after = await context.snapshot();
  expect(addedKeys(expected.before, after).filter((key) => !allowed(key)), 'keys stored by a refused request').toEqual([]);

  const logged = context.lines.filter((line) => line.requestId === reference);
  expect(logged.map((line) => line.code)).toContain(expected.code);
}
