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

/**
 * Errors as pino serializes them, less what a client library attached that carries data: ioredis
 * puts the failed command on its errors (`command: { name, args }`), and the args of a write are
 * the stored value (a user's email and names, a one-time login id in the key). Only the command's
 * name is kept, at any depth (causes, aggregated errors).
 */
function serializeError(error: unknown): unknown {
  const scrub = (value: unknown, depth: number): unknown => {
    if (depth > 8 || value === null || typeof value !== 'object') return value;
    if (Array.isArray(value)) return value.map((item) => scrub(item, depth + 1));
    const out: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(value)) {
      if (key === 'command' && inner !== null && typeof inner === 'object') {
        const name = (inner as { name?: unknown }).name;
        out[key] = { name: typeof name === 'string' ? name : '[redacted]' };
      } else if (key === 'args') {
        out[key] = '[redacted]';
      } else {
        out[key] = scrub(inner, depth + 1);
      }
    }
    return out;
  };
  return error instanceof Error ? scrub(pino.stdSerializers.err(error), 0) : scrub(error, 0);
}

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
    serializers: { err: serializeError, error: serializeError },
    base: { service: options.service },
  };
  return options.destination ? pino(settings, options.destination) : pino(settings);
}
