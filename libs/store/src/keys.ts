/**
 * Every storage key the broker uses is built here, so the layout of the store can be read in
 * one place. Keys that are touched together share a Redis Cluster hash tag (`{...}`).
 */
export const keys = {
  /** RelayState of an SP-initiated login -> the interaction it belongs to. Single use. */
  relayState: (relayState: string) => `saml:relay:${relayState}`,
  /**
   * AuthnRequest ID (what InResponseTo must match) of a connection. Single use; shares the
   * connection's hash tag with assertionSeen, so both are used in one atomic script.
   */
  authnRequest: (connectionId: string, requestId: string) => `saml:{${connectionId}}:req:${requestId}`,
  /** An assertion ID already accepted through a connection (replay cache), until it expires. */
  assertionSeen: (connectionId: string, assertionId: string) => `saml:{${connectionId}}:seen:${assertionId}`,
  /** Recent rejected responses of a connection, for diagnostics (capped list). */
  samlDiagnostics: (connectionId: string) => `saml:diag:${connectionId}`,
  /** The portal's hand-off to authn-service for one interaction: tenant and connection. */
  loginRequest: (interactionUid: string) => `login:req:${interactionUid}`,
  /** authn-service's one-time login result for the portal. Single use. */
  loginResult: (resultId: string) => `login:res:${resultId}`,
  /** An oidc-provider model instance. */
  oidcModel: (model: string, id: string) => `oidc:${model}:${id}`,
  /** The keys of every model instance issued under one grant (for revokeByGrantId). */
  oidcGrantIndex: (grantId: string) => `oidc:grant-tokens:${grantId}`,
  /**
   * The oidc-provider Session ids of one account (the broker user id): SAML Single Logout ends
   * them all. Lives at least as long as its longest-lived member.
   */
  oidcSessionsByAccount: (accountId: string) => `oidc:account-sessions:${accountId}`,
  /**
   * The same two indexes as versions before 2026-11-23 kept them (plain sets without per-member
   * expiry, under other names): Single Logout and grant revocation read them too, so that what
   * an earlier version indexed (sessions up to their TTL, tokens up to the refresh token's) is
   * still found after an upgrade, or written by old processes during a rolling one. Drop them once
   * no deployment can hold such keys (14 days after the upgrade).
   */
  legacyOidcGrantIndex: (grantId: string) => `oidc:grant-index:${grantId}`,
  legacyOidcSessionsByAccount: (accountId: string) => `oidc:sessions-by-account:${accountId}`,
  /** A LogoutRequest ID already acted on through a connection (SAML Single Logout replay cache). */
  logoutRequestSeen: (connectionId: string, requestId: string) => `saml:{${connectionId}}:logout-seen:${requestId}`,
  /**
   * A session ended by a logout or a Single Logout, for a few minutes: a request of the same
   * browser under way at that moment must not write it back under a new id (oidc-provider renames
   * a session when it resumes an authorization).
   */
  oidcSessionEnded: (sessionId: string) => `oidc:session-ended:${sessionId}`,
  /** oidc-provider lookup by uid (sessions). */
  oidcUid: (uid: string) => `oidc:uid:${uid}`,
  /** oidc-provider lookup by user code (device flow). */
  oidcUserCode: (userCode: string) => `oidc:user-code:${userCode}`,
  /** A tenant with its connections. */
  tenant: (tenantId: string) => `tenant:${tenantId}`,
  /** Email domain -> tenant id (home-realm discovery). */
  tenantByDomain: (domain: string) => `tenant-by-domain:${domain}`,
  /** External id (organization or customer) -> tenant id (login links). */
  tenantByExternalId: (kind: string, value: string) => `tenant-by-external-id:${kind}:${value}`,
  /** Connection id -> tenant id. */
  tenantByConnection: (connectionId: string) => `tenant-by-connection:${connectionId}`,
  /** A pending broker login for one browser (IdP-initiated SSO, login links), single use. */
  pendingLogin: (id: string) => `login:pending:${id}`,
  /** A browser origin some SPA client registered (answers CORS preflights). */
  corsOrigin: (origin: string) => `cors-origin:${origin}`,
  /** An OAuth client registration. */
  client: (clientId: string) => `client:${clientId}`,
  /**
   * Every key the last configuration import wrote (a JSON array): the next import removes those
   * its configuration no longer has (tenants, clients and their indexes taken out of the file).
   * One more entry, `config:manifest:import:{digest}:{id}`, names no key: it makes each import's
   * manifest unique (libs/server/src/configuration-import.ts).
   */
  configManifest: () => 'config:manifest',
  /** A user record. */
  user: (userId: string) => `user:${userId}`,
  /** The user id for a user identifier (username or federation id) within a tenant. */
  userByIdentifier: (tenantId: string, type: 'username' | 'federationId', value: string) => `user-by-id:{${tenantId}}:${type}:${value}`,
} as const;
