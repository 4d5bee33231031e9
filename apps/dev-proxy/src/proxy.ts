import { request as httpRequest, type IncomingMessage, type RequestListener } from 'node:http';
import { upstreamFor, type Upstream } from './routes.ts';

/**
 * A development ingress: one public origin, path-routed to the split-mode processes. It keeps
 * the Host header (the issuer's origin) and adds X-Forwarded-*. Production uses a real ingress
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
        headers: { ...req.headers, 'x-forwarded-for': forwardedFor, 'x-forwarded-proto': 'http', 'x-forwarded-host': req.headers.host ?? '' },
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
