import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/**
 * Paths that must never reach a log line, whatever object they sit in. SAML responses and
 * tokens are bearer credentials; passwords and secrets are secrets.
 */
const REDACTED_PATHS = [
  'password',
  '*.password',
  'secret',
  '*.secret',
  'clientSecret',
  '*.clientSecret',
  'client_secret',
  '*.client_secret',
  'SAMLResponse',
  '*.SAMLResponse',
  'code_verifier',
  '*.code_verifier',
  'access_token',
  '*.access_token',
  'refresh_token',
  '*.refresh_token',
  'id_token',
  '*.id_token',
  'authorization',
  '*.authorization',
  'cookie',
  '*.cookie',
  'req.headers.authorization',
  'req.headers.cookie',
];

export interface LoggerOptions {
  /** The service name carried on every line. */
  service: string;
  /** pino level; default from LOG_LEVEL, else 'info' ('silent' under tests unless LOG_LEVEL is set). */
  level?: string;
  /** Where lines go; default stdout. Tests pass a stream to read the lines back. */
  destination?: DestinationStream;
}

/** A JSON logger (pino) with secrets redacted. One per process; pass children down. */
export function createLogger(options: LoggerOptions): Logger {
  const level = options.level ?? process.env['LOG_LEVEL'] ?? (process.env['VITEST'] ? 'silent' : 'info');
  const settings = {
    name: options.service,
    level,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    base: { service: options.service },
  };
  return options.destination ? pino(settings, options.destination) : pino(settings);
}
