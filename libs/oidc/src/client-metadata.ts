import type { ClientMetadata } from 'oidc-provider';
import type { ClientRecord } from '@broker/identity';

/** The oidc-provider client metadata for one registered client. */
export function clientMetadata(client: ClientRecord): ClientMetadata {
  return {
    client_id: client.clientId,
    ...(client.displayName ? { client_name: client.displayName } : {}),
    application_type: client.kind === 'native' ? 'native' : 'web',
    redirect_uris: client.redirectUris,
    post_logout_redirect_uris: client.postLogoutRedirectUris,
    grant_types: client.refreshTokens ? ['authorization_code', 'refresh_token'] : ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: client.tokenEndpointAuthMethod,
    ...(client.clientSecret ? { client_secret: client.clientSecret } : {}),
    ...(client.jwks ? { jwks: client.jwks } : {}),
    // initiate_login_uri stays in the registry: the broker (not oidc-provider) sends people there,
    // and oidc-provider would refuse the http loopback URIs development mode allows.
    id_token_signed_response_alg: client.idTokenSignedResponseAlg,
    // Broker metadata (extraClientMetadata): read back by the portal, CORS and TTL policies.
    client_kind: client.kind,
    allowed_tenants: client.allowedTenants,
    first_party: client.firstParty,
    cors_origins: client.corsOrigins,
    token_ttl: client.ttl,
  };
}
