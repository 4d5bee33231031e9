import type { ResolvedClient } from '@broker/config';
import type { ClientRecord, ClientRegistry } from '@broker/identity';

/** A configured client as a registry record, with the defaults of docs/configuration.md applied. */
export function clientRecordFromConfig(client: ResolvedClient): ClientRecord {
  return {
    clientId: client.clientId,
    displayName: client.displayName,
    kind: client.kind,
    tokenEndpointAuthMethod: client.tokenEndpointAuthMethod ?? (client.kind === 'backend' ? 'client_secret_basic' : 'none'),
    clientSecret: client.clientSecret,
    jwks: client.jwks,
    redirectUris: client.redirectUris,
    postLogoutRedirectUris: client.postLogoutRedirectUris,
    corsOrigins: client.corsOrigins,
    allowedTenants: client.allowedTenants,
    firstParty: client.firstParty,
    initiateLoginUri: client.initiateLoginUri,
    idTokenSignedResponseAlg: client.idTokenSignedResponseAlg,
    refreshTokens: client.refreshTokens,
    ttl: client.ttl,
  };
}

/**
 * Import the configuration's clients into the registry (idempotent: each start writes the same
 * records). A client breaking the rules stops the start with every problem named.
 */
export async function importClients(registry: ClientRegistry, clients: readonly ResolvedClient[]): Promise<void> {
  for (const client of clients) await registry.register(clientRecordFromConfig(client));
}
