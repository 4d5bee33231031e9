/**
 * The one error base of the broker. `code` is machine-readable (logs, metrics, diagnostics);
 * `publicMessage` is safe to show a person; `detail` is for the log only and never sent.
 */
export class BrokerError extends Error {
  override readonly name = 'BrokerError';
  readonly code: string;
  readonly status: number;
  readonly publicMessage: string;
  readonly detail: Record<string, unknown> | undefined;

  constructor(options: { code: string; status: number; publicMessage: string; detail?: Record<string, unknown>; cause?: unknown }) {
    super(`${options.code}: ${options.publicMessage}`, { cause: options.cause });
    this.code = options.code;
    this.status = options.status;
    this.publicMessage = options.publicMessage;
    this.detail = options.detail;
  }
}

/** A 400 for input a person or client sent that the broker will not act on. */
export function badRequest(code: string, publicMessage: string, detail?: Record<string, unknown>): BrokerError {
  return new BrokerError({ code, status: 400, publicMessage, ...(detail ? { detail } : {}) });
}

/** A 404 for a thing that does not exist (unknown tenant, connection, expired interaction). */
export function notFound(code: string, publicMessage: string, detail?: Record<string, unknown>): BrokerError {
  return new BrokerError({ code, status: 404, publicMessage, ...(detail ? { detail } : {}) });
}
