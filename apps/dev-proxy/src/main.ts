// Development ingress for split mode: PORT (default 3000) -> PORTAL_URL, AUTHN_URL, TOKEN_URL.
import { createServer } from 'node:http';
import { createLogger } from '@broker/telemetry';
import { createDevProxy } from './proxy.ts';

const env = process.env;
const logger = createLogger({ service: 'dev-proxy' });
const upstream = (name: string, fallback: string): URL => new URL(env[name] ?? fallback);
const upstreams = {
  portal: upstream('PORTAL_URL', 'http://127.0.0.1:3101'),
  authn: upstream('AUTHN_URL', 'http://127.0.0.1:3102'),
  token: upstream('TOKEN_URL', 'http://127.0.0.1:3103'),
};
const port = Number(env['PORT'] ?? 3000);
const server = createServer(createDevProxy(upstreams));
server.once('error', (error: Error) => {
  logger.error({ port, err: error.message }, 'dev proxy could not listen');
  process.exit(1);
});
server.listen(port, () => logger.info({ port, upstreams: Object.fromEntries(Object.entries(upstreams).map(([k, v]) => [k, v.href])) }, 'dev proxy listening'));
const stop = () => server.close(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
