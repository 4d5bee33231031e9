import { randomUUID } from 'node:crypto';
import Provider, { errors, interactionPolicy, type Account, type Adapter, type AdapterPayload, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import type { ResolvedConfig } from '@broker/config';
import { redirectUriProblems, type ClientKind, type ClientRecord } from '@broker/identity';
import type { Store } from '@broker/store';
import type { Logger } from '@broker/telemetry';
import { renderErrorPage, RETRY_AFTER_SECONDS } from '@broker/http';
import { createStoreAdapter } from './adapter.ts';
import { clientMetadata } from './client-metadata.ts';
import { createCookieSigner } from './cookie-keys.ts';
import { currentRequest } from './request-reads.ts';
import type { SigningJwks } from './signing-keys.ts';

/** Claims the broker can state about a user. */
export interface AccountClaims {
  sub: string;
  email?: string | undefined;
  email_verified?: boolean | undefined;
  name?: string | undefined;
  given_name?: string | undefined;
  family_name?: string | undefined;
  tenant: string;
  role?: string | undefined;
}

export interface ProviderDeps {
  config: ResolvedConfig;
  store: Store;
  signingKeys: SigningJwks;
  cookieKeys: string[];
  /** The user behind a `sub`, or undefined when there is none (any more). */
  findAccount: (sub: string) => Promise<AccountClaims | undefined>;
  /** The registered client, from the client registry. */
  findClient: (clientId: string) => Promise<ClientRecord | undefined>;
  /** Resource servers that may receive JWT access tokens (resource indicators, RFC 8707). */
  resourceServers: readonly ResourceServer[];
  /** Development mode: web clients may use http loopback redirects. */
  development: boolean;
  logger: Logger;
}

/** An API that accepts the broker's access tokens. */
export interface ResourceServer {
  /** The resource indicator and the token's `aud`, e.g. https://api.example.com. */
  identifier: string;
  /** Scopes of this API a client may ask for. */
  scopes: string[];
  /** `jwt` (self-contained, checked with the JWKS) or `opaque` (checked by introspection). Default jwt. */
  accessTokenFormat: 'jwt' | 'opaque';
  /** Access token lifetime in seconds (default the broker's). */
  accessTokenTtl?: number | undefined;
  /** Confidential clients that may introspect tokens issued for this resource (default none). */
  introspectionClients?: readonly string[] | undefined;
}

/** Broker metadata carried on each oidc-provider client (extraClientMetadata). */
interface BrokerClientMetadata {
  client_kind?: ClientKind;
  allowed_tenants?: string[];
  cors_origins?: string[];
  first_party?: boolean;
  token_ttl?: ClientRecord['ttl'];
}
const brokerMetadata = (client: unknown): BrokerClientMetadata => (client ?? {});

/** Paths of the OAuth endpoints, shared by the portal, the token service and the ingress. */
export const OIDC_ROUTES = {
  authorization: '/authorize',
  token: '/token',
  jwks: '/jwks',
  userinfo: '/userinfo',
  end_session: '/logout',
  introspection: '/token/introspection',
  revocation: '/token/revocation',
  code_verification: '/device',
  registration: '/reg',
  backchannel_authentication: '/backchannel',
  pushed_authorization_request: '/par',
  challenge: '/challenge',
} as const;

/** Where oidc-provider sends the browser when a login or consent is needed. */
export const interactionPath = (uid: string): string => `/interaction/${uid}`;

/**
 * The one oidc-provider configuration. auth-portal and token-service both build it from the same
 * configuration and store, and each serves its own subset of the routes.
 */
export function createProvider(deps: ProviderDeps): Provider {
  const { config, store, logger } = deps;
  const StoreAdapter = createStoreAdapter(store);
  /**
   * Clients come from the client registry; every other model from the store adapter. A Session
   * looked up by uid is read once per request (see sessionsByRequest).
   */
  class BrokerAdapter extends StoreAdapter {
    override async find(id: string) {
      if (this.model !== 'Client') return super.find(id);
      const client = await deps.findClient(id);
      return client && (clientMetadata(client) as Awaited<ReturnType<Adapter['find']>>);
    }

    override async findByUid(uid: string) {
      const ctx = currentRequest();
      if (this.model !== 'Session' || ctx === undefined) return super.findByUid(uid);
      let sessions = sessionsByRequest.get(ctx);
      if (!sessions) {
        sessions = new Map();
        sessionsByRequest.set(ctx, sessions);
      }
      let found = sessions.get(uid);
      if (!found) {
        const reading = super.findByUid(uid) as Promise<AdapterPayload | undefined>;
        const memo = sessions;
        reading.catch(() => memo.delete(uid));
        sessions.set(uid, reading);
        found = reading;
      }
      const payload = await found;
      // Each caller gets its own copy: oidc-provider's models change what they are given.
      return payload && structuredClone(payload);
    }

    override async upsert(id: string, payload: AdapterPayload, expiresIn: number) {
      if (this.model === 'Session') forgetSessions();
      await super.upsert(id, payload, expiresIn);
    }

    override async destroy(id: string) {
      if (this.model === 'Session') forgetSessions();
      await super.destroy(id);
    }
  }
  const ttlFor = (name: 'idToken' | 'refreshToken', fallback: number) => (_ctx: KoaContextWithOIDC, _token: unknown, client: unknown) =>
    brokerMetadata(client).token_ttl?.[name] ?? fallback;
  /**
   * An access token lives the broker's ttl.accessToken, or what its client's ttl.accessToken or
   * the resource server it is for (accessTokenTtl) sets; when both set one, the shorter.
   */
  const accessTokenTtl = (_ctx: KoaContextWithOIDC, token: unknown, client: unknown): number => {
    const resourceServerTtl = (token as { resourceServer?: { accessTokenTTL?: unknown } } | undefined)?.resourceServer?.accessTokenTTL;
    const set = [brokerMetadata(client).token_ttl?.accessToken, resourceServerTtl].filter((ttl): ttl is number => typeof ttl === 'number');
    return set.length ? Math.min(...set) : config.ttl.accessToken;
  };
  /**
   * The claims of the user behind `sub` while that user may use `client`: undefined when the user
   * or their tenant is gone, or the client does not allow the tenant (allowed_tenants).
   */
  const usableAccount = async (client: unknown, sub: string): Promise<AccountClaims | undefined> => {
    const claims = await deps.findAccount(sub);
    if (!claims) return undefined;
    return brokerMetadata(client).allowed_tenants?.includes(claims.tenant) === true ? claims : undefined;
  };
  const resourceServers = new Map(deps.resourceServers.map((rs) => [rs.identifier, rs]));

  const configuration: Configuration = {
    adapter: BrokerAdapter,
    extraClientMetadata: {
      properties: ['client_kind', 'allowed_tenants', 'first_party', 'cors_origins', 'token_ttl'],
      // Runs whenever oidc-provider loads a client: the redirect rules hold at the authorization
      // endpoint too, not only when the client was registered.
      validator: (_ctx, key, value, metadata) => {
        if (key !== 'client_kind') return;
        const kind = value as ClientKind;
        const problems = [
          ...redirectUriProblems(kind, (metadata['redirect_uris'] as string[] | undefined) ?? [], { development: deps.development }),
          ...redirectUriProblems(kind, (metadata['post_logout_redirect_uris'] as string[] | undefined) ?? [], { development: deps.development }, 'postLogoutRedirectUris'),
        ];
        if (problems.length) throw new errors.InvalidClientMetadata(problems.join('; '));
      },
    },
    // Carried to the portal's interaction: which tenant and which IdP connection to use.
    extraParams: ['tenant', 'idp_hint'],
    jwks: { keys: deps.signingKeys.keys },
    cookies: {
      // Signed as with the keys array (keygrip), with the keys imported once (cookie-keys.ts).
      keys: createCookieSigner(deps.cookieKeys),
      long: { signed: true, httpOnly: true, sameSite: 'lax' },
      short: { signed: true, httpOnly: true, sameSite: 'lax' },
    },
    routes: OIDC_ROUTES,
    // CORS only for public clients (SPAs) calling from the origin of one of their redirect URIs,
    // and for userinfo; confidential clients are servers and need none.
    // CORS only on the token, userinfo and revocation endpoints, only for SPAs, only from their
    // registered origins. No global CORS.
    clientBasedCORS: (ctx, origin, client) => {
      const meta = brokerMetadata(client);
      if (meta.client_kind !== 'spa' || !['token', 'userinfo', 'revocation'].includes(ctx.oidc.route)) return false;
      return meta.cors_origins?.includes(origin) ?? false;
    },
    enabledJWA: {
      idTokenSigningAlgValues: ['ES256', 'RS256'],
      userinfoSigningAlgValues: ['ES256', 'RS256'],
      dPoPSigningAlgValues: ['ES256', 'EdDSA', 'Ed25519', 'PS256', 'RS256'],
      clientAuthSigningAlgValues: ['ES256', 'RS256', 'PS256', 'EdDSA', 'Ed25519'],
    },
    // Refresh tokens only with offline_access, always rotated; reuse of a rotated token revokes
    // the grant (oidc-provider's consumed check, made atomic by the adapter).
    issueRefreshToken: (_ctx, client, code) => client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access'),
    rotateRefreshToken: () => true,
    pkce: { required: () => true },
    responseTypes: ['code'],
    scopes: ['openid', 'offline_access', 'email', 'profile'],
    claims: {
      openid: ['sub', 'tenant', 'role', 'acr', 'amr'],
      email: ['email', 'email_verified'],
      profile: ['name', 'given_name', 'family_name'],
    },
    // ID tokens carry the scope's claims even when an access token is issued: apps read the
    // user's email and name from the ID token without a userinfo round trip.
    conformIdTokenClaims: false,
    features: {
      devInteractions: { enabled: false },
      // Introspection (RFC 7662 section 4: the server decides who may learn about a token): a
      // confidential client about its own tokens, and a resource server's designated client
      // about tokens issued for that resource. Anyone else learns `active: false`.
      introspection: {
        enabled: true,
        allowedPolicy: async (ctx, client, token) => {
          if (client.clientAuthMethod === 'none') return false;
          const own = token.clientId === client.clientId;
          const audience = 'aud' in token ? token.aud : undefined;
          const audiences = (Array.isArray(audience) ? audience : [audience]).filter((a): a is string => typeof a === 'string');
          if (!own && !audiences.some((aud) => resourceServers.get(aud)?.introspectionClients?.includes(client.clientId) === true)) return false;
          // Active only while its user could still use it with its client, as at userinfo: not
          // once the client, the user or the tenant is gone or the client no longer allows the tenant.
          const accountId = 'accountId' in token ? token.accountId : undefined;
          if (!accountId) return true;
          const owner = own ? client : await ctx.oidc.provider.Client.find(token.clientId ?? '');
          return owner !== undefined && (await usableAccount(owner, accountId)) !== undefined;
        },
      },
      // Revocation (RFC 7009 section 2.1): only of the client's own tokens, since revoking a token
      // revokes its whole grant. A confidential client presenting another's token is told so; a
      // public client is answered as if it had worked, which tells it nothing.
      revocation: {
        enabled: true,
        allowedPolicy: (_ctx, client, token) => {
          if (token.clientId === client.clientId) return true;
          if (client.clientAuthMethod === 'none') return false;
          throw new errors.InvalidRequest('client is not authorized to revoke the presented token');
        },
      },
      userinfo: { enabled: true },
      rpInitiatedLogout: { enabled: true },
      pushedAuthorizationRequests: { enabled: true, requirePushedAuthorizationRequests: false },
      resourceIndicators: {
        enabled: true,
        defaultResource: (_ctx, _client, oneOf) => oneOf ?? undefined,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, indicator) => {
          const rs = resourceServers.get(indicator);
          if (!rs) throw new errors.InvalidTarget(`unknown resource ${indicator}`);
          return {
            scope: rs.scopes.join(' '),
            audience: rs.identifier,
            accessTokenFormat: rs.accessTokenFormat,
            ...(rs.accessTokenTtl ? { accessTokenTTL: rs.accessTokenTtl } : {}),
            ...(rs.accessTokenFormat === 'jwt' ? { jwt: { sign: { alg: 'ES256' } } } : {}),
          };
        },
      },
    },
    ttl: {
      AuthorizationCode: config.ttl.authorizationCode,
      AccessToken: accessTokenTtl,
      IdToken: ttlFor('idToken', config.ttl.idToken),
      Interaction: config.ttl.interaction,
      Session: config.ttl.session,
      Grant: config.ttl.session,
      RefreshToken: ttlFor('refreshToken', 14 * 24 * 3600),
    },
    interactions: { url: (_ctx, interaction) => interactionPath(interaction.uid), policy: createInteractionPolicy() },
    loadExistingGrant: async (ctx) => loadOrCreateFirstPartyGrant(ctx),
    findAccount: async (ctx, sub, token): Promise<Account | undefined> => {
      // A user exists for a client only while the client lets the user's tenant in. oidc-provider
      // asks here for every use of an account with a client: an existing session at /authorize
      // (so another tenant's session is no sign-in: the login prompt, or login_required with
      // prompt=none), codes and refresh tokens at /token (invalid_grant), access tokens at
      // /userinfo (invalid_token); introspection asks usableAccount itself. Taking a tenant off a
      // client's allowedTenants ends its users' access to that client at their next refresh.
      const claims = ctx.oidc.client ? await usableAccount(ctx.oidc.client, sub) : await deps.findAccount(sub);
      if (!claims) return undefined;
      // acr and amr belong to the authentication (the session), not to the user: the ID token gets
      // them from the session; userinfo reads them from the session the access token came from
      // (only then: the token endpoint and the authorization endpoint do not need it).
      const sessionUid = (token as { sessionUid?: unknown } | undefined)?.sessionUid;
      return {
        accountId: sub,
        claims: async (use) => {
          if (use !== 'userinfo' || typeof sessionUid !== 'string') return { ...claims };
          const session = await ctx.oidc.provider.Session.findByUid(sessionUid);
          return {
            ...claims,
            ...(session?.acr ? { acr: session.acr } : {}),
            ...(session?.amr?.length ? { amr: session.amr } : {}),
          };
        },
      };
    },
    renderError: (ctx, out, error) => {
      // The express request underneath carries the id our requestId() middleware gave it.
      const reference = (ctx.req as { requestId?: string }).requestId ?? randomUUID();
      logger.warn({ requestId: reference, error: out.error, description: out.error_description, detail: error.message }, `oidc error: ${out.error}`);
      ctx.type = 'html';
      ctx.body = renderErrorPage(ctx.status, out.error_description ?? 'The request could not be completed.', reference);
    },
  };
  const provider = new Provider(config.issuer, configuration);
  // Our ingress (deploy/, the dev proxy) sets X-Forwarded-Proto and Host for the public origin.
  provider.proxy = true;
  // A 503 is the store's StoreUnavailableError (temporarily_unavailable): say when to retry.
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.status === 503) ctx.set('retry-after', String(RETRY_AFTER_SECONDS));
  });
  return provider;
}

/**
 * Sessions found by uid during one oidc-provider request, by request. oidc-provider checks that
 * an access token's session still exists (expiresWithSession) and userinfo then reads the same
 * session for acr and amr: one store read serves both. A Session written or deleted during the
 * request is read again afterwards. Requests are oidc-provider's koa contexts (Provider.ctx, its
 * AsyncLocalStorage); outside one (e.g. the portal's own routes) nothing is kept.
 */
const sessionsByRequest = new WeakMap<object, Map<string, Promise<AdapterPayload | undefined>>>();
const forgetSessions = (): void => {
  const ctx = currentRequest();
  if (ctx !== undefined) sessionsByRequest.delete(ctx);
};

/**
 * oidc-provider's base policy asks every native client for consent, because anyone can
 * impersonate a native client_id (RFC 8252 section 8.6). We keep that protection where it
 * matters, silent sign-in from an existing session, and drop it for first-party native clients
 * right after the person signed in at their IdP in this very interaction.
 */
function createInteractionPolicy() {
  const policy = interactionPolicy.base();
  const login = policy.get('login');
  if (!login) throw new Error('oidc-provider base policy has no login prompt');
  // A session whose account findAccount does not give for this client (the user's tenant may not
  // use it, or the user or tenant is gone) signs nobody in: the login prompt, as with no session
  // (login_required under prompt=none). oidc-provider itself would go on to the consent prompt.
  login.checks.add(
    new interactionPolicy.Check('account_not_usable', 'End-User authentication is required', 'login_required', (ctx) =>
      ctx.oidc.session?.accountId !== undefined && ctx.oidc.account === undefined ? interactionPolicy.Check.REQUEST_PROMPT : interactionPolicy.Check.NO_NEED_TO_PROMPT,
    ),
    1,
  );
  const consent = policy.get('consent');
  if (!consent) throw new Error('oidc-provider base policy has no consent prompt');
  consent.checks.remove('native_client_prompt');
  consent.checks.add(
    new interactionPolicy.Check('native_client_prompt', 'native clients require End-User interaction', 'interaction_required', (ctx) => {
      const { oidc } = ctx;
      const interactedNow = oidc.result?.consent !== undefined || (oidc.client?.['first_party'] === true && oidc.result?.login !== undefined);
      return oidc.client?.applicationType === 'native' && !interactedNow ? interactionPolicy.Check.REQUEST_PROMPT : interactionPolicy.Check.NO_NEED_TO_PROMPT;
    }),
    0,
  );
  return policy;
}

/**
 * First-party clients see no consent screen: their grant is created (or extended) here with the
 * scopes and claims the request asked for. Third-party clients fall through to the consent prompt.
 */
async function loadOrCreateFirstPartyGrant(ctx: KoaContextWithOIDC) {
  const { oidc } = ctx;
  const client = oidc.client;
  const accountId = oidc.account?.accountId;
  if (!client || !accountId) return undefined;
  const grantId = oidc.result?.consent?.grantId ?? oidc.session?.grantIdFor(client.clientId);
  const existing = grantId ? await oidc.provider.Grant.find(grantId) : undefined;
  if (client['first_party'] !== true) return existing;
  const grant = existing ?? new oidc.provider.Grant({ clientId: client.clientId, accountId });
  grant.addOIDCScope([...oidc.requestParamScopes].join(' '));
  const claims = [...oidc.requestParamClaims];
  if (claims.length) grant.addOIDCClaims(claims);
  // Scopes of the requested resource servers (resource indicators), limited to what each offers.
  for (const [indicator, resourceServer] of Object.entries(oidc.resourceServers ?? {})) {
    const offered = new Set(String(resourceServer.scope ?? '').split(' '));
    const granted = [...oidc.requestParamScopes].filter((scope) => offered.has(scope));
    if (granted.length) grant.addResourceScope(indicator, granted.join(' '));
  }
  await grant.save();
  return grant;
}
