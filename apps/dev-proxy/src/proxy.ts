import { randomUUID } from 'node:crypto';
import { request as httpRequest, type IncomingMessage, type RequestListener } from 'node:http';
import { upstreamFor, type Upstream } from './routes.ts';

/**
 * A development ingress: one public origin, path-routed to the split-mode processes. It keeps
 * the Host header (the issuer's origin), adds X-Forwarded-*, and gives each request its own
 * X-Request-Id (a client's own is replaced: the id is the support reference and the log key). Production uses a real ingress
 * (deploy/nginx).
 */
export function createDevProxy(upstreams: Record<Upstream, URL>): RequestListener {
  return (req: IncomingMessage, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const target = upstreams[upstreamFor(path)];
    const forwardedFor = [req.headers['x-forwarded-for'], req.socket.remoteAddress].filter(Boolean).join(', ');
    const upstream = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, 'x-forwarded-for': forwardedFor, 'x-forwarded-proto': 'http', 'x-forwarded-host': req.headers.host ?? '', 'x-request-id': randomUUID() },
      },
      (upstreamRes) => {
        res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
        upstreamRes.pipe(res);
      },
    );
    upstream.on('error', () => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end('bad gateway');
    });
    req.pipe(upstream);
  };
}
