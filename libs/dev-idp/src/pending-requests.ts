import { randomBytes } from 'node:crypto';

/** An AuthnRequest accepted at /sso (or an IdP-initiated login) waiting for the user to sign in. */
export interface PendingRequest {
  /** The AuthnRequest ID, echoed as InResponseTo; undefined for an IdP-initiated login. */
  requestId?: string | undefined;
  spEntityId: string;
  acsUrl: string;
  relayState?: string;
}

export interface PendingRequests {
  /** Store a request; returns the unguessable id the login form carries. */
  add(request: PendingRequest): string;
  /** The request, if present and not expired, without consuming it (a wrong password may retry). */
  peek(id: string): PendingRequest | undefined;
  /** The request, removed so that the id cannot be used again. */
  take(id: string): PendingRequest | undefined;
}

/**
 * In-memory store: the dev IdP is a single process and loses nothing of value on restart (the
 * user just starts the login again). Expired entries are swept on every `add`.
 */
export function createPendingRequests(ttlMs: number, now: () => number = Date.now): PendingRequests {
  const entries = new Map<string, { request: PendingRequest; expiresAt: number }>();

  const live = (id: string) => {
    const entry = entries.get(id);
    if (entry && entry.expiresAt <= now()) {
      entries.delete(id);
      return undefined;
    }
    return entry?.request;
  };

  return {
    add(request) {
      const at = now();
      for (const [id, entry] of entries) if (entry.expiresAt <= at) entries.delete(id);
      const id = randomBytes(24).toString('base64url');
      entries.set(id, { request, expiresAt: at + ttlMs });
      return id;
    },
    peek: live,
    take(id) {
      const request = live(id);
      entries.delete(id);
      return request;
    },
  };
}
