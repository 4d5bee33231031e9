// The dev proxy over real HTTP: what an upstream service receives from it.
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDevProxy } from './proxy.ts';

describe('dev proxy', () => {
  const seen: IncomingHttpHeaders[] = [];
  const upstream = createServer((req, res) => {
    seen.push(req.headers);
    res.end('ok');
  });
  let proxy: ReturnType<typeof createServer> | undefined;
  let base = '';

  beforeAll(async () => {
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    const target = new URL(`http://127.0.0.1:${(upstream.address() as AddressInfo).port}/`);
    proxy = createServer(createDevProxy({ portal: target, authn: target, token: target }));
    proxy.listen(0, '127.0.0.1');
    await once(proxy, 'listening');
    base = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => proxy?.close(resolve));
    await new Promise((resolve) => upstream.close(resolve));
  });

  it('gives each request its own X-Request-Id and sets the forwarded headers, replacing a client’s', async () => {
    for (const path of ['/authorize', '/token', '/saml/x/acs']) {
      const reply = await fetch(`${base}${path}`, { headers: { 'x-request-id': 'client-chosen-reference', 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https' } });
      expect(await reply.text()).toBe('ok');
    }
    expect(seen).toHaveLength(3);
    const ids = seen.map((headers) => headers['x-request-id']);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(new Set(ids).size).toBe(3);
    for (const headers of seen) {
      expect(headers['x-forwarded-host']).toBe(new URL(base).host);
      expect(headers['x-forwarded-proto']).toBe('http');
    }
  });
});
