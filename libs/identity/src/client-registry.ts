import { keys, type Store } from '@broker/store';
import { createReadCache } from './read-cache.ts';
import { corsOriginProblem, redirectUriProblems, type ClientKind, type RedirectRuleOptions } from './client-rules.ts';

export type TokenEndpointAuthMethod = 'none' | 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt';

/** A registered OAuth client, as the broker keeps it. */
export interface ClientRecord {
  clientId: string;
  displayName?: string | undefined;
  /** native and spa clients are public (PKCE, no secret); backend clients are confidential. */
  kind: ClientKind;
  tokenEndpointAuthMethod: TokenEndpointAuthMethod;
  clientSecret?: string | undefined;
  /** Public keys for private_key_jwt. */
  jwks?: { keys: Record<string, unknown>[] } | undefined;
  redirectUris: string[];
  postLogoutRedirectUris: string[];
  /** Origins allowed to call the token and userinfo endpoints from a browser (SPAs only). */
  corsOrigins: string[];
  allowedTenants: string[];
  firstParty: boolean;
  /** OIDC third-party-initiated login URI (IdP-initiated SSO lands here). */
  initiateLoginUri?: string | undefined;
  idTokenSignedResponseAlg: 'ES256' | 'RS256';
  /** Issue refresh tokens (with rotation) when offline_access is granted. */
  refreshTokens: boolean;
  /** Lifetimes in seconds overriding the broker's defaults. */
  ttl: { accessToken?: number | undefined; idToken?: number | undefined; refreshToken?: number | undefined };
}

/** A client registration that breaks the rules; `problems` name each field. */
export class ClientRuleError extends Error {
  override readonly name = 'ClientRuleError';
  constructor(
    readonly clientId: string,
    readonly problems: string[],
  ) {
    super(`client ${clientId}: ${problems.join('; ')}`);
  }
}

/** Every rule a client registration must meet, as `field: message` lines (empty when fine). */
export function clientProblems(client: ClientRecord, options: RedirectRuleOptions): string[] {
  const problems = [
    ...redirectUriProblems(client.kind, client.redirectUris, options),
    ...redirectUriProblems(client.kind, client.postLogoutRedirectUris, options, 'postLogoutRedirectUris'),
  ];
  if (client.redirectUris.length === 0) problems.push('redirectUris: at least one is required');
  const isPublic = client.kind !== 'backend';
  if (isPublic && client.tokenEndpointAuthMethod !== 'none') problems.push(`tokenEndpointAuthMethod: a ${client.kind} client is public and authenticates with PKCE only ('none')`);
  if (isPublic && client.clientSecret !== undefined) problems.push(`clientSecret: a ${client.kind} client is public and must not have a secret`);
  if (!isPublic && client.tokenEndpointAuthMethod === 'none') problems.push('tokenEndpointAuthMethod: a backend client must authenticate');
  if (client.tokenEndpointAuthMethod.startsWith('client_secret') && !client.clientSecret) problems.push(`clientSecret: required for ${client.tokenEndpointAuthMethod}`);
  if (client.tokenEndpointAuthMethod === 'private_key_jwt' && !client.jwks?.keys.length) problems.push('jwks: private_key_jwt needs the client’s public keys');
  if (client.corsOrigins.length && client.kind !== 'spa') problems.push('corsOrigins: only SPAs call the token endpoint from a browser');
  client.corsOrigins.forEach((origin, i) => {
    const problem = corsOriginProblem(origin, options);
    if (problem) problems.push(`corsOrigins.${i} (${origin}): ${problem}`);
  });
  if (client.initiateLoginUri !== undefined && !client.initiateLoginUri.startsWith('https://') && !(options.development && /^http:\/\/(localhost|127\.0\.0\.1|\[::1\])[:/]/.test(client.initiateLoginUri))) {
    problems.push('initiateLoginUri: must use https');
  }
  if (client.allowedTenants.length === 0) problems.push('allowedTenants: at least one tenant');
  return problems;
}

/** What the store holds for a client: its record and its CORS origins' index, as [key, value] pairs. */
export function clientEntries(client: ClientRecord): Array<[string, string]> {
  return [[keys.client(client.clientId), JSON.stringify(client)], ...client.corsOrigins.map((origin): [string, string] => [keys.corsOrigin(origin), '1'])];
}

export interface ClientRegistry {
  /** Validate and store a client (create or replace). Throws ClientRuleError. */
  register(client: ClientRecord): Promise<void>;
  find(clientId: string): Promise<ClientRecord | undefined>;
  /**
   * Whether some SPA client registered this browser origin. CORS preflights arrive before any
   * client is known, so they are answered from this index.
   */
  isCorsOrigin(origin: string): Promise<boolean>;
}

export interface ClientRegistryOptions extends RedirectRuleOptions {
  /**
   * How long a record read from the store is reused by this registry, in ms (default 0: every
   * lookup reads the store). Clients registered through this registry are seen at once; writes
   * by other processes after at most this long.
   */
  cacheTtlMs?: number;
}

/** The client registry in the store; the configuration file is imported into it at start. */
export function createClientRegistry(store: Store, options: ClientRegistryOptions): ClientRegistry {
  const cache = createReadCache({ ttlMs: options.cacheTtlMs ?? 0 });
  const read = (key: string): Promise<string | null> => cache.read(key, () => store.get(key));
  return {
    async register(client) {
      const problems = clientProblems(client, options);
      if (problems.length) throw new ClientRuleError(client.clientId, problems);
      try {
        await Promise.all(clientEntries(client).map(([key, value]) => store.set(key, value)));
      } finally {
        // Also after a failed write: some of it may have been written.
        cache.clear();
      }
    },
    async find(clientId) {
      const value = await read(keys.client(clientId));
      return value === null ? undefined : (JSON.parse(value) as ClientRecord);
    },
    isCorsOrigin: async (origin) => (await read(keys.corsOrigin(origin))) !== null,
  };
}
