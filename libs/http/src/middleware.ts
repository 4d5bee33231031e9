import { randomUUID } from 'node:crypto';
import type { ErrorRequestHandler, Request, RequestHandler } from 'express';
import type { Logger } from '@broker/telemetry';
import { BrokerError } from './errors.ts';
import { escapeHtml, renderPage } from './html.ts';

declare module 'express-serve-static-core' {
  interface Request {
    /** Per-request id: shown to people as the support reference, carried on every log line. */
    requestId: string;
  }
}

/**
 * Give each request an id. An incoming X-Request-Id is kept when well-formed: the ingress sets it
 * (deploy/nginx, the dev proxy), replacing any a client sent, so one id follows the request
 * through the ingress's log and ours.
 */
export function requestId(): RequestHandler {
  return (req, res, next) => {
    const incoming = req.get('x-request-id');
    req.requestId = incoming && /^[A-Za-z0-9-]{8,64}$/.test(incoming) ? incoming : randomUUID();
    res.setHeader('X-Request-Id', req.requestId);
    next();
  };
}

/**
 * Make every request say it came to the issuer's origin: X-Forwarded-Proto and X-Forwarded-Host
 * are set from the configured issuer, whatever the client or a proxy sent. oidc-provider (koa with
 * `proxy`) builds its endpoint URLs, the audience it accepts for client assertions, DPoP's `htu`
 * and its cookies' Secure flag from these headers; taken from the request, a client could name
 * another host, or a TLS-terminating load balancer that does not set the protocol would make the
 * session cookies lose Secure.
 */
export function publicOrigin(issuer: string): RequestHandler {
  const { protocol, host } = new URL(issuer);
  const proto = protocol.replace(/:$/, '');
  return (req, _res, next) => {
    req.headers['x-forwarded-proto'] = proto;
    req.headers['x-forwarded-host'] = host;
    next();
  };
}

/**
 * Security headers for pages and APIs. Pages are plain HTML with, at most, one inline
 * auto-submit script whose hash-free allowance is limited to `script-src 'unsafe-inline'` on
 * form-post pages only; everything else denies scripts entirely. `hsts` (an https issuer) adds
 * Strict-Transport-Security for a year (no includeSubDomains: the broker does not own its
 * parent domain's other hosts).
 */
export function securityHeaders(options: { hsts?: boolean } = {}): RequestHandler {
  return (_req, res, next) => {
    if (options.hsts) res.setHeader('Strict-Transport-Security', 'max-age=31536000');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('X-Frame-Options', 'DENY');
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    if (!res.getHeader('Content-Security-Policy')) {
      // script-src is spelled out, although default-src already forbids scripts: oidc-provider
      // adds the hash of its own auto-submit scripts (response_mode=form_post, the logout page)
      // to a script-src directive, and only when there is one. Without it those pages stayed
      // blank, their script blocked and their <noscript> button hidden.
      res.setHeader('Content-Security-Policy', "default-src 'none'; script-src 'none'; style-src 'unsafe-inline'; form-action *; frame-ancestors 'none'; base-uri 'none'");
    }
    next();
  };
}

/** Liveness (`/healthz`) and readiness (`/readyz`, which runs `check`). */
export function healthRoutes(check: () => Promise<void>): RequestHandler {
  return (req, res, next) => {
    if (req.method !== 'GET') return next();
    if (req.path === '/healthz') {
      res.type('text/plain').send('ok');
      return;
    }
    if (req.path === '/readyz') {
      check().then(
        () => res.type('text/plain').send('ready'),
        () => res.status(503).type('text/plain').send('not ready'),
      );
      return;
    }
    next();
  };
}

/** Render an error for a person: one plain page with the support reference, never a stack trace. */
export function renderErrorPage(status: number, message: string, reference: string): string {
  const title = status >= 500 ? 'Something went wrong' : 'Sign-in could not continue';
  return renderPage(
    title,
    `<p>${escapeHtml(message)}</p>
<p class="ref">If you contact support, give them this reference: <code>${escapeHtml(reference)}</code></p>`,
  );
}

/** Log a rejected request with its reason under the request id. */
export function logRejection(logger: Logger, req: Request, error: BrokerError): void {
  logger.warn({ requestId: req.requestId, code: error.code, status: error.status, detail: error.detail, method: req.method, path: req.path }, `rejected: ${error.code}`);
}

/**
 * The last handler of every app: BrokerError -> its status and a plain page (the log carries the
 * real reason); anything else -> 500 with the same page shape. Body-parser errors (too large,
 * malformed) are client errors.
 */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (error: unknown, req, res, next) => {
    const reference = req.requestId ?? randomUUID();
    let brokerError: BrokerError;
    if (error instanceof BrokerError) {
      brokerError = error;
    } else if (isServiceUnavailable(error)) {
      // The store (Redis) cannot serve now: nothing is wrong with the request, and retrying soon
      // may work. No stack: the reason is enough, and the cause's data stays out of the log.
      logger.warn({ requestId: reference, reason: error.cause instanceof Error ? error.cause.message : String(error.cause), method: req.method, path: req.path }, 'service unavailable');
      if (res.headersSent) return next(error);
      res.status(503).set('retry-after', String(RETRY_AFTER_SECONDS)).type('html').send(renderErrorPage(503, 'The sign-in service is briefly unavailable. Please try again in a moment.', reference));
      return;
    } else if (isHttpClientError(error)) {
      brokerError = new BrokerError({ code: 'http.bad_request', status: error.status, publicMessage: 'The request could not be read.', detail: { reason: error.message } });
    } else {
      logger.error({ requestId: reference, err: error, method: req.method, path: req.path }, 'unhandled error');
      // Too late for a page: express's default handler closes the half-sent response.
      if (res.headersSent) return next(error);
      res.status(500).type('html').send(renderErrorPage(500, 'The sign-in service had a problem. Please try again.', reference));
      return;
    }
    logRejection(logger, req, brokerError);
    if (res.headersSent) return next(error);
    res.status(brokerError.status).type('html').send(renderErrorPage(brokerError.status, brokerError.publicMessage, reference));
  };
}

/** Seconds a 503 (the store cannot serve now) asks clients to wait before retrying. */
export const RETRY_AFTER_SECONDS = 5;

/** An error that says it is a 503 (status, as http-errors has it): the store's StoreUnavailableError. */
function isServiceUnavailable(error: unknown): error is { status: 503; cause?: unknown } {
  return typeof error === 'object' && error !== null && (error as { status?: unknown }).status === 503;
}

function isHttpClientError(error: unknown): error is { status: number; message: string } {
  if (typeof error !== 'object' || error === null) return false;
  const status = (error as { status?: unknown }).status;
  return typeof status === 'number' && status >= 400 && status < 500;
}
