import type { Server } from 'node:http';
import type { Express } from 'express';
import type { Logger } from '@broker/telemetry';

export interface Running {
  server: Server;
  /** The URL the server listens on (loopback). */
  url: string;
  close: () => Promise<void>;
}

/** Listen on `port` (0 = any free port) on `host` (default all interfaces). */
export function listen(app: Express, port: number, logger: Logger, host?: string): Promise<Running> {
  return new Promise((resolve, reject) => {
    const server = app.listen(port, host ?? '::', (error?: Error) => {
      if (error) return reject(error);
      const address = server.address();
      const actual = typeof address === 'object' && address ? address.port : port;
      const url = `http://localhost:${actual}`;
      logger.debug({ url }, 'listening');
      resolve({
        server,
        url,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeIdleConnections();
          }),
      });
    });
    server.once('error', reject);
  });
}

/** Close everything on SIGTERM / SIGINT, then exit; a second signal exits at once. */
export function shutdownOnSignals(logger: Logger, closers: Array<() => Promise<void>>): void {
  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) process.exit(1);
    closing = true;
    logger.info({ signal }, 'shutting down');
    Promise.allSettled(closers.map((close) => close())).then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

/** A port from the environment, or the default. Throws naming the variable when it is not a port. */
export function portFrom(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new Error(`${name} must be a port number (0-65535), got '${raw}'`);
  return port;
}

/**
 * Run an app's main: any start-up failure (bad configuration, unreachable Redis) is logged as one
 * clear line and the process exits 1, without a stack trace for configuration errors.
 */
export function runMain(service: string, main: () => Promise<void>): void {
  main().catch((error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    const isConfig = error instanceof Error && error.name === 'ConfigError';
    process.stderr.write(`${service}: failed to start: ${message}\n${isConfig || !(error instanceof Error) ? '' : `${error.stack ?? ''}\n`}`);
    process.exit(1);
  });
}
