/**
 * The store could not serve a command just now: Redis unreachable or timed out, out of memory,
 * read-only or loading after a restart or failover. Not a wrong command (WRONGTYPE, a script
 * error): those stay what they are, a bug.
 *
 * Shaped as an HTTP error (`status`, `expose`, as http-errors and koa use them) and as an OAuth
 * error (`error`, `error_description`; oidc-provider renders an exposed error by its `message`),
 * so the broker's express error handler and oidc-provider both answer 503
 * `temporarily_unavailable` (RFC 6749 section 4.1.2.1) instead of a 500. What failed is the
 * `cause`.
 */
export class StoreUnavailableError extends Error {
  readonly status = 503;
  readonly statusCode = 503;
  readonly expose = true;
  readonly error = 'temporarily_unavailable';
  readonly error_description = 'The sign-in service is briefly unavailable. Please try again in a moment.';

  constructor(cause: unknown) {
    super('temporarily_unavailable', { cause });
    this.name = 'StoreUnavailableError';
  }
}

/** Redis error replies that say the server cannot serve now (not that the command was wrong). */
const UNAVAILABLE_REPLIES = /^(OOM|READONLY|LOADING|BUSY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|NOREPLICAS|MISCONF)\b/;
/** ioredis's own errors when no answer came: the connection is gone, or the command timed out. */
const UNAVAILABLE_CLIENT_ERRORS = /^(Connection is closed|Command timed out|Stream isn't writeable|Reached the max retries per request limit)/;
const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/** Whether a Redis client error means "unavailable now" (see StoreUnavailableError). */
export function isRedisUnavailability(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.name === 'MaxRetriesPerRequestError') return true;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && UNAVAILABLE_CODES.has(code)) return true;
  return UNAVAILABLE_REPLIES.test(error.message) || UNAVAILABLE_CLIENT_ERRORS.test(error.message);
}
