import { randomBytes } from 'node:crypto';
import { keys, type Store } from '@broker/store';

/** What the portal hands authn-service: which interaction, tenant, connection and client. */
export interface LoginRequest {
  uid: string;
  tenantId: string;
  connectionId: string;
  clientId: string;
}

/** What authn-service hands back: the signed-in user for that interaction. */
export interface LoginResult {
  uid: string;
  userId: string;
  tenantId: string;
  connectionId: string;
  /** Epoch seconds of the authentication. */
  authTime: number;
  amr: string[];
}

/** RelayState of one SP-initiated login: the interaction and the AuthnRequest it answers. */
export interface RelayRecord {
  uid: string;
  connectionId: string;
  requestId: string;
}

export interface LoginHandoff {
  saveRequest(request: LoginRequest): Promise<void>;
  findRequest(uid: string): Promise<LoginRequest | undefined>;
  /** Store a RelayState for a new AuthnRequest; returns the opaque RelayState value. */
  createRelayState(record: RelayRecord): Promise<string>;
  peekRelayState(relayState: string): Promise<RelayRecord | undefined>;
  /** Consume a RelayState: of concurrent callers at most one gets the record. */
  takeRelayState(relayState: string): Promise<RelayRecord | undefined>;
  /** Store a login result; returns its one-time id. */
  saveResult(result: LoginResult): Promise<string>;
  /** Consume a login result (single use). */
  takeResult(resultId: string): Promise<LoginResult | undefined>;
}

const parse = <T>(value: string | null): T | undefined => (value === null ? undefined : (JSON.parse(value) as T));
const opaqueId = (): string => randomBytes(32).toString('base64url');
/** Opaque ids we issue are 43 base64url characters; anything else is not worth a store lookup. */
const isOpaqueId = (value: string): boolean => /^[A-Za-z0-9_-]{43}$/.test(value);

/**
 * The state that carries one login across the portal, authn-service and the IdP. Every value is
 * short-lived (`ttlSeconds`, default 600) and the single-use ones are consumed atomically.
 */
export function createLoginHandoff(store: Store, ttlSeconds = 600, resultTtlSeconds = 60): LoginHandoff {
  return {
    saveRequest: (request) => store.set(keys.loginRequest(request.uid), JSON.stringify(request), { ttlSeconds }),
    findRequest: async (uid) => parse<LoginRequest>(await store.get(keys.loginRequest(uid))),
    async createRelayState(record) {
      const relayState = opaqueId();
      await store.set(keys.relayState(relayState), JSON.stringify(record), { ttlSeconds });
      return relayState;
    },
    peekRelayState: async (relayState) => (isOpaqueId(relayState) ? parse<RelayRecord>(await store.get(keys.relayState(relayState))) : undefined),
    takeRelayState: async (relayState) => (isOpaqueId(relayState) ? parse<RelayRecord>(await store.take(keys.relayState(relayState))) : undefined),
    async saveResult(result) {
      const id = opaqueId();
      await store.set(keys.loginResult(id), JSON.stringify(result), { ttlSeconds: resultTtlSeconds });
      return id;
    },
    takeResult: async (resultId) => (isOpaqueId(resultId) ? parse<LoginResult>(await store.take(keys.loginResult(resultId))) : undefined),
  };
}
