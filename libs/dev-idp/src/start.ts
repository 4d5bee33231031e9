import { once } from 'node:events';
import { createServer } from 'node:http';
import { createLogger } from '@broker/telemetry';
import type { Logger } from '@broker/telemetry';
import { loadDevIdpConfig } from './config.ts';
import { createDevIdp } from './dev-idp.ts';

export interface StartDevIdpOptions {
  configPath: string;
  /** Overrides the config's `port` (default 3001). The advertised URL stays the config's `baseUrl`. */
  port?: number;
  /** Defaults to a new logger for service `dev-idp`; the all-in-one launcher passes its own. */
  logger?: Logger;
}

export interface RunningDevIdp {
  /** The IdP's public base URL (`baseUrl` from the config). */
  url: string;
  close: () => Promise<void>;
}

const DEFAULT_PORT = 3001;

/** Load the config, build the app and listen: used by the dev-idp app and the all-in-one launcher. */
export async function startDevIdp(options: StartDevIdpOptions): Promise<RunningDevIdp> {
  const config = await loadDevIdpConfig(options.configPath);
  const logger = options.logger ?? createLogger({ service: 'dev-idp' });
  const server = createServer(createDevIdp({ config, logger }));
  server.listen(options.port ?? config.port ?? DEFAULT_PORT);
  await once(server, 'listening');

  const address = server.address();
  logger.info(
    {
      port: typeof address === 'object' && address ? address.port : undefined,
      metadataUrl: `${config.baseUrl}/metadata`,
      ssoUrl: `${config.baseUrl}/sso`,
      entityId: config.entityId,
    },
    'dev IdP listening',
  );

  return {
    url: config.baseUrl,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        // Idle keep-alive sockets would otherwise hold close() open until they time out.
        server.closeIdleConnections();
      }),
  };
}
