import { randomUUID } from 'node:crypto';
import Provider, { interactionPolicy, type Account, type ClientMetadata, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import type { ResolvedClient, ResolvedConfig } from '@broker/config';
import type { Store } from '@broker/store';
import type { Logger } from '@broker/telemetry';
import { renderErrorPage } from '@broker/http';
import { createStoreAdapter } from './adapter.ts';
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
  logger: Logger;
}

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

/** The oidc-provider client metadata for one configured client. */
export function clientMetadata(client: ResolvedClient): ClientMetadata {
  const applicationType = client.applicationType ?? (client.type === 'public' ? 'native' : 'web');
  return {
    client_id: client.clientId,
    ...(client.displayName ? { client_name: client.displayName } : {}),
    application_type: applicationType,
    redirect_uris: client.redirectUris,
    post_logout_redirect_uris: client.postLogoutRedirectUris,
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: client.type === 'public' ? 'none' : 'client_secret_basic',
    ...(client.clientSecret ? { client_secret: client.clientSecret } : {}),
    allowed_tenants: client.allowedTenants,
    first_party: client.firstParty,
  };
}

/**
 * The one oidc-provider configuration. auth-portal and token-service both build it from the same
 * configuration and store, and each serves its own subset of the routes.
 */
export function createProvider(deps: ProviderDeps): Provider {
  const { config, store, logger } = deps;
  const configuration: Configuration = {
    adapter: createStoreAdapter(store),
    clients: config.clients.map(clientMetadata),
    extraClientMetadata: {
      properties: ['allowed_tenants', 'first_party'],
    },
    // Carried to the portal's interaction: which tenant and which IdP connection to use.
    extraParams: ['tenant', 'idp_hint'],
    jwks: { keys: deps.signingKeys.keys },
    cookies: {
      keys: deps.cookieKeys,
      long: { signed: true, httpOnly: true, sameSite: 'lax' },
      short: { signed: true, httpOnly: true, sameSite: 'lax' },
    },
    routes: OIDC_ROUTES,
    // CORS only for public clients (SPAs) calling from the origin of one of their redirect URIs,
    // and for userinfo; confidential clients are servers and need none.
    clientBasedCORS: (ctx, origin, client) => {
      if (origin === 'null') return false;
      if (ctx.oidc.route !== 'userinfo' && client.clientAuthMethod !== 'none') return false;
      return client.redirectUris?.some((uri) => URL.parse(uri)?.origin === origin) ?? false;
    },
    pkce: { required: () => true },
    responseTypes: ['code'],
    scopes: ['openid', 'offline_access', 'email', 'profile'],
    claims: {
      openid: ['sub', 'tenant', 'role'],
      email: ['email', 'email_verified'],
      profile: ['name', 'given_name', 'family_name'],
    },
    // ID tokens carry the scope's claims even when an access token is issued: apps read the
    // user's email and name from the ID token without a userinfo round trip.
    conformIdTokenClaims: false,
    features: {
      devInteractions: { enabled: false },
      introspection: { enabled: true },
      revocation: { enabled: true },
      userinfo: { enabled: true },
      rpInitiatedLogout: { enabled: true },
    },
    ttl: {
      AuthorizationCode: config.ttl.authorizationCode,
      AccessToken: config.ttl.accessToken,
      IdToken: config.ttl.idToken,
      Interaction: config.ttl.interaction,
      Session: config.ttl.session,
      Grant: config.ttl.session,
      RefreshToken: 14 * 24 * 3600,
    },
    interactions: { url: (_ctx, interaction) => interactionPath(interaction.uid), policy: createInteractionPolicy() },
    loadExistingGrant: async (ctx) => loadOrCreateFirstPartyGrant(ctx),
    findAccount: async (_ctx, sub): Promise<Account | undefined> => {
      const claims = await deps.findAccount(sub);
      if (!claims) return undefined;
      return { accountId: sub, claims: () => ({ ...claims }) };
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
  return provider;
}

/**
 * oidc-provider's base policy asks every native client for consent, because anyone can
 * impersonate a native client_id (RFC 8252 section 8.6). We keep that protection where it
 * matters, silent sign-in from an existing session, and drop it for first-party native clients
 * right after the person signed in at their IdP in this very interaction.
 */
function createInteractionPolicy() {
  const policy = interactionPolicy.base();
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
  await grant.save();
  return grant;
}
