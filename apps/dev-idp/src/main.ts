// The dev IdP as a process: read where the config is, start, stop on a signal. Nothing else.
import { parseArgs } from 'node:util';
import { startDevIdp } from '@broker/dev-idp';
import { createLogger } from '@broker/telemetry';

const DEFAULT_CONFIG = 'config/demo/dev-idp.yaml';

const logger = createLogger({ service: 'dev-idp' });
const { values } = parseArgs({ options: { config: { type: 'string' } } });
const configPath = values.config ?? process.env['DEV_IDP_CONFIG'] ?? DEFAULT_CONFIG;
const port = parsePort(process.env['PORT']);

try {
  const idp = await startDevIdp({ configPath, port, logger });
  const shutdown = (signal: NodeJS.Signals) => {
    logger.info({ signal }, 'dev IdP shutting down');
    idp.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'dev IdP did not close cleanly');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
} catch (error) {
  logger.fatal({ err: error, configPath }, 'dev IdP failed to start');
  process.exitCode = 1;
}

function parsePort(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new Error(`PORT is not a port number: ${value}`);
  return port;
}
