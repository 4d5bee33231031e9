import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { keys, type Store } from '@broker/store';

/**
 * A login the portal hands to authn-service. `interaction`: an OIDC authorization request is
 * waiting (id = the interaction uid). `link`: a login link started it, no app request yet (id =
 * random); after the IdP, the person goes to the client's login-initiation URI.
 */
export interface LoginRequest {
  kind: 'interaction' | 'link';
  id: string;
  tenantId: string;
  connectionId: string;
  clientId: string;
  /** The tenant account the login is for (login links), recorded on the user. */
  account?: string | undefined;
  /**
   * Login links: the binding (browserBinding) of the browser that opened the link. Its pending
   * login is only for a browser holding the matching LOGIN_LINK_COOKIE.
   */
  browser?: string | undefined;
  /**
   * A fresh authentication was asked for (ForceAuthn): by the app (prompt=login, max_age over an
   * older session) in a login request; in a RelayState, also by the connection's settings.
   */
  forceAuthn?: boolean | undefined;
}

/** RelayState of one SP-initiated login: the request it belongs to and the AuthnRequest ID. */
export interface RelayRecord extends LoginRequest {
  requestId: string;
  /** When the AuthnRequest was made (epoch ms): a forced authentication must be newer. */
  requestedAt?: number | undefined;
}

/** The signed-in user, as authn-service hands it back. */
export interface LoginResult {
  /** The interaction uid, for interaction logins. */
  uid?: string | undefined;
  userId: string;
  tenantId: string;
  connectionId: string;
  clientId: string;
  /** Epoch seconds of the authentication. */
  authTime: number;
  acr?: string | undefined;
  amr: string[];
  /** A login link's browser binding (LoginRequest.browser), checked when the pending login is used. */
  browser?: string | undefined;
  /**
   * Who signed in, as the person would recognise it: the email when it is verified (the
   * email_verified policy: an IdP cannot name an address outside its organization's domains
   * here), else the username, else the IdP's user ID. An IdP-initiated login asks the browser to
   * confirm it, with the organization's name, before the app gets it.
   */
  who?: string | undefined;
}

export interface LoginHandoff {
  saveRequest(request: LoginRequest): Promise<void>;
  findRequest(kind: LoginRequest['kind'], id: string): Promise<LoginRequest | undefined>;
  /** A fresh id for a login link request. */
  newLinkId(): string;
  /** Store a RelayState for a new AuthnRequest; returns the opaque RelayState value. */
  createRelayState(record: RelayRecord): Promise<string>;
  peekRelayState(relayState: string): Promise<RelayRecord | undefined>;
  /** Consume a RelayState: of concurrent callers at most one gets the record. */
  takeRelayState(relayState: string): Promise<RelayRecord | undefined>;
  /**
   * Store a login result for the portal's interaction; returns its one-time id. It lives 60 s
   * (the redirect from the ACS), or `ttlSeconds` (a page waiting for the person).
   */
  saveResult(result: LoginResult, ttlSeconds?: number): Promise<string>;
  /** Consume a login result (single use). */
  takeResult(resultId: string): Promise<LoginResult | undefined>;
  /**
   * Store a pending broker login (IdP-initiated SSO, login links) for the browser that holds the
   * returned id in a cookie; the app's next authorization request consumes it.
   */
  savePendingLogin(result: LoginResult): Promise<string>;
  takePendingLogin(id: string): Promise<LoginResult | undefined>;
}

/** The cookie that holds a pending broker login's id (same origin, path /, HttpOnly, 5 minutes). */
export const PENDING_LOGIN_COOKIE = 'broker_pending_login';
/** How long a pending broker login (and its cookie) lasts, in seconds. */
export const PENDING_LOGIN_TTL_SECONDS = 300;

/**
 * The cookie that ties a login link to the browser that opened it (HttpOnly, SameSite=Lax, path
 * /). Without it, anyone could start a link in their own browser, keep the IdP's response and
 * have another person's browser post it to the ACS: that browser would hold a pending login as
 * the first person (login CSRF). The pending login is only used where this cookie matches.
 */
export const LOGIN_LINK_COOKIE = 'broker_login_link';

const bindingOf = (secret: string): string => createHash('sha256').update(secret).digest('base64url');

/**
 * The secret for a browser's LOGIN_LINK_COOKIE (the one it already holds, when well-formed, else a
 * fresh one), and the binding (its SHA-256) kept with the login.
 */
export function browserBinding(current?: string): { secret: string; binding: string } {
  const secret = current !== undefined && isOpaqueId(current) ? current : opaqueId();
  return { secret, binding: bindingOf(secret) };
}

/** Whether a browser's LOGIN_LINK_COOKIE secret is the one `binding` was made from (constant time). */
export function matchesBrowserBinding(secret: string | undefined, binding: string): boolean {
  if (secret === undefined || !isOpaqueId(secret)) return false;
  const actual = Buffer.from(bindingOf(secret));
  const expected = Buffer.from(binding);
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

const parse = <T>(value: string | null): T | undefined => (value === null ? undefined : (JSON.parse(value) as T));
const opaqueId = (): string => randomBytes(32).toString('base64url');
/** Opaque ids we issue are 43 base64url characters; anything else is not worth a store lookup. */
export const isOpaqueId = (value: string): boolean => /^[A-Za-z0-9_-]{43}$/.test(value);

const requestKey = (kind: LoginRequest['kind'], id: string) => keys.loginRequest(`${kind}:${id}`);

/**
 * The state that carries one login across the portal, authn-service and the IdP. Every value is
 * short-lived (`ttlSeconds`, default 600) and the single-use ones are consumed atomically.
 */
export function createLoginHandoff(store: Store, ttlSeconds = 600, resultTtlSeconds = 60, pendingTtlSeconds = PENDING_LOGIN_TTL_SECONDS): LoginHandoff {
  return {
    saveRequest: (request) => store.set(requestKey(request.kind, request.id), JSON.stringify(request), { ttlSeconds }),
    findRequest: async (kind, id) => parse<LoginRequest>(await store.get(requestKey(kind, id))),
    newLinkId: opaqueId,
    async createRelayState(record) {
      const relayState = opaqueId();
      await store.set(keys.relayState(relayState), JSON.stringify(record), { ttlSeconds });
      return relayState;
    },
    peekRelayState: async (relayState) => (isOpaqueId(relayState) ? parse<RelayRecord>(await store.get(keys.relayState(relayState))) : undefined),
    takeRelayState: async (relayState) => (isOpaqueId(relayState) ? parse<RelayRecord>(await store.take(keys.relayState(relayState))) : undefined),
    async saveResult(result, ttl = resultTtlSeconds) {
      const id = opaqueId();
      await store.set(keys.loginResult(id), JSON.stringify(result), { ttlSeconds: ttl });
      return id;
    },
    takeResult: async (resultId) => (isOpaqueId(resultId) ? parse<LoginResult>(await store.take(keys.loginResult(resultId))) : undefined),
    async savePendingLogin(result) {
      const id = opaqueId();
      await store.set(keys.pendingLogin(id), JSON.stringify(result), { ttlSeconds: pendingTtlSeconds });
      return id;
    },
    takePendingLogin: async (id) => (isOpaqueId(id) ? parse<LoginResult>(await store.take(keys.pendingLogin(id))) : undefined),
  };
}
