import { z } from 'zod';

/**
 * The broker's configuration file (YAML or JSON). docs/configuration.md is the reference for
 * every field; keep both in step.
 */

/** A secret given inline, read from an environment variable, or read from a file. */
export const secretSchema = z.union([
  z.string().min(1),
  z.object({ env: z.string().min(1) }).strict(),
  z.object({ file: z.string().min(1) }).strict(),
]);
export type SecretSource = z.infer<typeof secretSchema>;

const id = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be lowercase letters, digits and dashes (max 63), starting with a letter or digit');

const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an absolute http(s) URL' });

/** One X.509 certificate: PEM text or `{ file }`. */
const certificateSchema = z.union([z.string().min(1), z.object({ file: z.string().min(1) }).strict()]);

const idpSchema = z
  .object({
    /** The IdP's entity ID (its Issuer). */
    entityId: z.string().min(1).optional(),
    /** The IdP's SSO URL (its login URL; HTTP-Redirect binding). */
    ssoUrl: httpUrl.optional(),
    /** The IdP's logout URL (single logout, shown in diagnostics; the broker does not send logout requests yet). */
    sloUrl: httpUrl.optional(),
    /** The IdP's signing certificate(s); responses must be signed by one of them. */
    certificates: z.array(certificateSchema).min(1).optional(),
    /** An IdP metadata XML file that supplies whatever of the above is not given. */
    metadataFile: z.string().min(1).optional(),
    /**
     * The IdP's metadata URL (e.g. Entra ID's App Federation Metadata URL), fetched once at start
     * over HTTPS; http and private addresses only with `saml.allowPrivateMetadataUrls`.
     */
    metadataUrl: httpUrl
      .refine((u) => !/^[a-z]+:\/\/[^/?#]*@/i.test(u), { error: 'must not carry a user name or password' })
      .optional(),
    /** The IdP's metadata XML itself, pasted inline. */
    metadataXml: z.string().min(1).optional(),
  })
  .strict()
  .superRefine((idp, ctx) => {
    const sources = (['metadataFile', 'metadataUrl', 'metadataXml'] as const).filter((name) => idp[name] !== undefined);
    if (sources.length > 1) {
      ctx.addIssue({ code: 'custom', path: [sources[1] ?? 'metadataXml'], message: `give only one of metadataFile, metadataUrl and metadataXml (got ${sources.join(' and ')})` });
    }
    if (sources.length === 0 && !(idp.entityId && idp.ssoUrl && idp.certificates)) {
      ctx.addIssue({ code: 'custom', path: [], message: 'give entityId, ssoUrl and certificates, or a metadataFile, metadataUrl or metadataXml' });
    }
  });

/** Attribute names per IdP preset (docs/configuration.md). Given `attributes` override them. */
export const ATTRIBUTE_PRESETS = {
  generic: { email: 'email', givenName: 'givenName', surname: 'surname' },
  // Azure Entra ID's default claims (the seeds' attribute table).
  azure: {
    email: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress',
    givenName: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname',
    surname: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname',
    username: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name',
  },
  // Okta's attribute statements as its SAML app wizard suggests them.
  okta: { email: 'email', givenName: 'firstName', surname: 'lastName' },
  // Google Workspace: NameID is the primary email; first and last name mapped by the admin.
  google: { email: 'email', givenName: 'firstName', surname: 'lastName' },
} as const satisfies Record<string, { email: string; givenName: string; surname: string; username?: string }>;

const attributeMappingSchema = z
  .object({
    /** Attribute holding the email address (an email-shaped NameID is used when absent). */
    email: z.string().min(1).optional(),
    /** Attribute holding the given (first) name. */
    givenName: z.string().min(1).optional(),
    /** Attribute holding the surname (last name). */
    surname: z.string().min(1).optional(),
    /** Attribute holding the username (for userIdType username read from an attribute, and the record). */
    username: z.string().min(1).optional(),
    /** Attribute holding the access profile (role); absent: the default access profile. */
    accessProfile: z.string().min(1).optional(),
  })
  .strict();

const keyPairSchema = z
  .object({
    /** PEM private key (a secret: inline, { env } or { file }). */
    privateKey: secretSchema,
    /** PEM certificate: text or { file }. */
    certificate: certificateSchema,
  })
  .strict();

const SECURITY_DEFAULTS = {
  allowSha1: false,
  clockSkewSeconds: 60,
  maxAssertionAgeSeconds: 300,
  requireEncryptedAssertions: false,
  maxResponseBytes: 262_144,
  maxDepth: 40,
};
const securitySchema = z
  .object({
    /** Accept RSA-SHA1 signatures and SHA-1 digests (default false; a warning in diagnostics when on). */
    allowSha1: z.boolean().default(SECURITY_DEFAULTS.allowSha1),
    /** Accepted clock difference with the IdP, in seconds (default 60, at most 300: never unlimited). */
    clockSkewSeconds: z.number().int().min(0).max(300).default(SECURITY_DEFAULTS.clockSkewSeconds),
    /** Oldest assertion accepted, by its IssueInstant, in seconds (default 300). */
    maxAssertionAgeSeconds: z.number().int().positive().max(3600).default(SECURITY_DEFAULTS.maxAssertionAgeSeconds),
    /** Refuse plaintext assertions (default false); needs sp.encryption. */
    requireEncryptedAssertions: z.boolean().default(SECURITY_DEFAULTS.requireEncryptedAssertions),
    /** Largest SAMLResponse accepted, in bytes of its base64 form (default 256 KB). */
    maxResponseBytes: z.number().int().min(4096).max(2_097_152).default(SECURITY_DEFAULTS.maxResponseBytes),
    /** Deepest element nesting accepted (default 40; real responses nest about 12 deep). */
    maxDepth: z.number().int().min(16).max(200).default(SECURITY_DEFAULTS.maxDepth),
  })
  .strict();

const AUTHN_REQUEST_DEFAULTS = { binding: 'redirect' as const, sign: false, forceAuthn: false };
const authnRequestSchema = z
  .object({
    /** How the AuthnRequest travels to the IdP: HTTP-Redirect (default) or HTTP-POST. */
    binding: z.enum(['redirect', 'post']).default(AUTHN_REQUEST_DEFAULTS.binding),
    /** Sign AuthnRequests with sp.signing (default false). */
    sign: z.boolean().default(AUTHN_REQUEST_DEFAULTS.sign),
    /** Ask the IdP to authenticate the person again even with a session there (default false). */
    forceAuthn: z.boolean().default(AUTHN_REQUEST_DEFAULTS.forceAuthn),
    /**
     * Ask for an authentication context (for example MFA); the response's AuthnContextClassRef
     * must then be one of `classRefs`.
     */
    requestedAuthnContext: z
      .object({
        classRefs: z.array(z.string().min(1)).min(1),
        comparison: z.enum(['exact', 'minimum', 'maximum', 'better']).default('exact'),
      })
      .strict()
      .optional(),
  })
  .strict();

/** The defaults of a connection's nested settings (for code that builds connections directly). */
export const CONNECTION_DEFAULTS = {
  security: SECURITY_DEFAULTS,
  authnRequest: AUTHN_REQUEST_DEFAULTS,
  sp: {},
  preset: 'generic',
  userIdType: 'federationId',
  userIdLocation: 'nameId',
  createUsers: true,
  emailVerified: false,
  idpInitiated: { enabled: false },
} as const;

const connectionSchema = z
  .object({
    id,
    displayName: z.string().min(1).optional(),
    idp: idpSchema,
    /** Require the Assertion to be signed (default true). */
    wantAssertionsSigned: z.boolean().default(true),
    /** Require the Response envelope to be signed (default false). */
    wantResponseSigned: z.boolean().default(false),
    /** NameID format to request (default unspecified). */
    nameIdFormat: z.string().min(1).default('urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified'),
    /** SAML request issuer: the SP entity ID, derived per connection unless overridden. */
    spEntityId: z.string().min(1).optional(),
    /** Attribute name defaults: generic (default), azure, okta or google. */
    preset: z.enum(['generic', 'azure', 'okta', 'google']).default('generic'),
    /** User ID type: what the IdP's identifier is for us: a federation id (default) or a username. */
    userIdType: z.enum(['federationId', 'username']).default('federationId'),
    /** User ID location: the NameID (default) or an attribute (userIdAttribute). */
    userIdLocation: z.enum(['nameId', 'attribute']).default('nameId'),
    userIdAttribute: z.string().min(1).optional(),
    /** Create Users (JIT): create unknown users on first login (default true); off: refuse them. */
    createUsers: z.boolean().default(true),
    /** Assert email_verified=true for this connection's users (default false). */
    emailVerified: z.boolean().default(false),
    /**
     * IdP-initiated SSO (default off). When on, an unsolicited response is accepted (replay-checked)
     * and the person is sent to the app named by `relayState` (a client id), or by the RelayState the
     * IdP sends when it names a client allowed for this tenant.
     */
    idpInitiated: z
      .object({ enabled: z.boolean().default(false), relayState: z.string().min(1).optional() })
      .strict()
      .default({ enabled: false }),
    security: securitySchema.default(SECURITY_DEFAULTS),
    authnRequest: authnRequestSchema.default(AUTHN_REQUEST_DEFAULTS),
    /** The SP's own key pairs for this connection. */
    sp: z
      .object({
        /** Signs AuthnRequests (authnRequest.sign); its certificate is published in the SP metadata. */
        signing: keyPairSchema.optional(),
        /** Decrypts encrypted assertions; its certificate is published in the SP metadata. */
        encryption: keyPairSchema.optional(),
      })
      .strict()
      .default({}),
    attributes: attributeMappingSchema.default({}),
    /** Role given to users created on their first login through this connection; default: the tenant's. */
    defaultRole: z.string().min(1).optional(),
  })
  .strict()
  .superRefine((connection, ctx) => {
    if (connection.userIdLocation === 'attribute' && !connection.userIdAttribute) {
      ctx.addIssue({ code: 'custom', path: ['userIdAttribute'], message: "userIdLocation 'attribute' needs the attribute's name" });
    }
    if (!connection.wantAssertionsSigned && !connection.wantResponseSigned) {
      ctx.addIssue({ code: 'custom', path: ['wantAssertionsSigned'], message: 'at least one of wantAssertionsSigned and wantResponseSigned must be true' });
    }
    if (connection.authnRequest.sign && !connection.sp.signing) {
      ctx.addIssue({ code: 'custom', path: ['sp', 'signing'], message: 'authnRequest.sign needs an SP signing key pair' });
    }
    if (connection.security.requireEncryptedAssertions && !connection.sp.encryption) {
      ctx.addIssue({ code: 'custom', path: ['sp', 'encryption'], message: 'security.requireEncryptedAssertions needs an SP encryption key pair' });
    }
  });

const tenantSchema = z
  .object({
    id,
    displayName: z.string().min(1),
    /** External ids (customer, organization) as other systems know the tenant; login links use them. */
    externalIds: z.object({ customer: z.string().min(1).optional(), organization: z.string().min(1).optional() }).strict().default({}),
    /** Accounts of the tenant (multi-account customers); users may belong to several. */
    accounts: z.array(z.object({ id, externalId: z.string().min(1).optional(), displayName: z.string().min(1).optional() }).strict()).default([]),
    /** Email domains that route to this tenant (home-realm discovery). */
    emailDomains: z.array(z.string().regex(/^[a-z0-9.-]+\.[a-z]{2,}$/, 'must be a lowercase domain name')).default([]),
    /** Sign-on type: saml (default) or none (the tenant does not sign in through the broker). */
    signOnType: z.enum(['saml', 'none']).default('saml'),
    /** SSO enforced: apps should hide password login for this tenant (readable at /realm). */
    ssoEnforced: z.boolean().default(false),
    /** Default role / access profile of users created on first login (default 'member'). */
    defaultRole: z.string().min(1).default('member'),
    connections: z.array(connectionSchema).default([]),
  })
  .strict()
  .superRefine((tenant, ctx) => {
    if (tenant.signOnType === 'saml' && tenant.connections.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['connections'], message: 'a SAML tenant needs at least one connection' });
    }
    // A login link's accountExternalId picks the first account that has it: a second account with
    // the same external id could never be reached, and its users would join the first one.
    const accountsByExternalId = new Map<string, string>();
    tenant.accounts.forEach((account, a) => {
      if (account.externalId === undefined) return;
      const owner = accountsByExternalId.get(account.externalId);
      if (owner !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['accounts', a, 'externalId'], message: `account external id '${account.externalId}' of account '${account.id}' already belongs to account '${owner}' of tenant '${tenant.id}'` });
      } else accountsByExternalId.set(account.externalId, account.id);
    });
  });

const clientSchema = z
  .object({
    clientId: z.string().regex(/^[A-Za-z0-9._-]{1,128}$/, 'must be 1-128 of A-Z a-z 0-9 . _ -'),
    displayName: z.string().min(1).optional(),
    /**
     * native: mobile and desktop apps (public, PKCE, RFC 8252 redirects); spa: browser apps (public,
     * PKCE, CORS); backend: servers (confidential).
     */
    kind: z.enum(['native', 'spa', 'backend']),
    /** Default: 'none' for native and spa clients, 'client_secret_basic' for backends. */
    tokenEndpointAuthMethod: z.enum(['none', 'client_secret_basic', 'client_secret_post', 'private_key_jwt']).optional(),
    clientSecret: secretSchema.optional(),
    /** The client's public keys, for private_key_jwt. */
    jwks: z.object({ keys: z.array(z.record(z.string(), z.unknown())).min(1) }).strict().optional(),
    redirectUris: z.array(z.string().min(1)).min(1),
    postLogoutRedirectUris: z.array(z.string().min(1)).default([]),
    /** Browser origins allowed to call the token, userinfo and revocation endpoints (SPAs only). */
    corsOrigins: z.array(z.string().min(1)).default([]),
    /** Tenants whose users may sign in to this client. */
    allowedTenants: z.array(id).min(1),
    /** First-party clients are not shown a consent screen (default true). */
    firstParty: z.boolean().default(true),
    /** OIDC third-party-initiated login URI: where IdP-initiated sign-ins send the person. */
    initiateLoginUri: z.string().min(1).optional(),
    /** ID token signature (default ES256). */
    idTokenSignedResponseAlg: z.enum(['ES256', 'RS256']).default('ES256'),
    /** Issue rotating refresh tokens when offline_access is granted (default true). */
    refreshTokens: z.boolean().default(true),
    /** Lifetimes in seconds overriding the broker's `ttl`. */
    ttl: z
      .object({
        accessToken: z.number().int().positive().optional(),
        idToken: z.number().int().positive().optional(),
        refreshToken: z.number().int().positive().optional(),
      })
      .strict()
      .default({}),
  })
  .strict()
  .superRefine((client, ctx) => {
    const method = client.tokenEndpointAuthMethod ?? (client.kind === 'backend' ? 'client_secret_basic' : 'none');
    if (client.kind === 'backend' && method === 'none') ctx.addIssue({ code: 'custom', path: ['tokenEndpointAuthMethod'], message: 'a backend client must authenticate' });
    if (client.kind !== 'backend' && method !== 'none') ctx.addIssue({ code: 'custom', path: ['tokenEndpointAuthMethod'], message: `a ${client.kind} client is public: only 'none' (PKCE)` });
    if (method.startsWith('client_secret') && client.clientSecret === undefined) ctx.addIssue({ code: 'custom', path: ['clientSecret'], message: `${method} needs a clientSecret` });
    if (client.kind !== 'backend' && client.clientSecret !== undefined) ctx.addIssue({ code: 'custom', path: ['clientSecret'], message: `a ${client.kind} client is public and must not have a clientSecret` });
    if (method === 'private_key_jwt' && client.jwks === undefined) ctx.addIssue({ code: 'custom', path: ['jwks'], message: 'private_key_jwt needs the client’s public keys (jwks)' });
  });

const resourceServerSchema = z
  .object({
    /** The resource indicator and the access token's audience, e.g. https://api.example.com. */
    identifier: z.url({ error: 'must be an absolute URI' }),
    scopes: z.array(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, 'must be a scope token')).default([]),
    /** jwt (default) or opaque access tokens for this API. */
    accessTokenFormat: z.enum(['jwt', 'opaque']).default('jwt'),
    accessTokenTtl: z.number().int().positive().optional(),
    /**
     * Confidential clients (backends: the API's own credentials) that may introspect tokens issued
     * for this resource (RFC 7662). Any other client learns `active: false` about them.
     */
    introspectionClients: z.array(z.string().min(1)).default([]),
  })
  .strict();

export const brokerConfigSchema = z
  .object({
    /** The public origin of the broker and the OIDC issuer, e.g. https://login.example.com. */
    issuer: httpUrl.refine((u) => !u.endsWith('/'), { error: 'must not end with a slash' }),
    secrets: z
      .object({
        /** Keys that sign oidc-provider's cookies (first one signs; all verify). */
        cookieKeys: z.array(secretSchema).min(1).optional(),
        /** A JWKS file (private keys) that signs ID tokens; the first key of each algorithm is used. */
        signingKeys: secretSchema.optional(),
      })
      .strict()
      .default({}),
    /** The administration API (connection diagnostics). */
    admin: z
      .object({
        /**
         * Bearer token of the administration API (`GET /saml/:connectionId/diagnostics`); a secret.
         * Without it that API does not exist (404).
         */
        apiToken: secretSchema.optional(),
      })
      .strict()
      .default({}),
    /** Broker-wide SAML settings. */
    saml: z
      .object({
        /**
         * Development only: let `idp.metadataUrl` be http and resolve to loopback, private or
         * link-local addresses (default false: HTTPS to public addresses only).
         */
        allowPrivateMetadataUrls: z.boolean().default(false),
      })
      .strict()
      .default({ allowPrivateMetadataUrls: false }),
    /**
     * Development mode (default false): web clients may use http redirect URIs and CORS origins on
     * a loopback host. Never in production.
     */
    development: z.boolean().default(false),
    tenants: z.array(tenantSchema).min(1),
    clients: z.array(clientSchema).min(1),
    /** APIs that receive JWT or opaque access tokens through resource indicators (RFC 8707). */
    resourceServers: z.array(resourceServerSchema).default([]),
    /** In-process caches of each broker process. */
    cache: z
      .object({
        /**
         * How long every broker process reuses a tenant, connection or client record read from
         * the store, in seconds (default 5; 0: read the store every time). Changes written
         * by another process are seen after at most this long.
         */
        directoryTtlSeconds: z.number().min(0).max(60).default(5),
      })
      .strict()
      .default({ directoryTtlSeconds: 5 }),
    /** Lifetimes in seconds. */
    ttl: z
      .object({
        /** Authorization code (default 60). */
        authorizationCode: z.number().int().positive().max(600).default(60),
        /** Access token (default 600). */
        accessToken: z.number().int().positive().default(600),
        /** ID token (default 600). */
        idToken: z.number().int().positive().default(600),
        /** Interaction / pending login, including RelayState (default 600). */
        interaction: z.number().int().positive().max(3600).default(600),
        /** Broker session (default 8 hours). */
        session: z.number().int().positive().default(28_800),
      })
      .strict()
      .default({ authorizationCode: 60, accessToken: 600, idToken: 600, interaction: 600, session: 28_800 }),
  })
  .strict()
  .superRefine((config, ctx) => {
    const tenantIds = new Set<string>();
    const connectionIds = new Set<string>();
    config.tenants.forEach((tenant, t) => {
      if (tenantIds.has(tenant.id)) ctx.addIssue({ code: 'custom', path: ['tenants', t, 'id'], message: `duplicate tenant id '${tenant.id}'` });
      tenantIds.add(tenant.id);
      tenant.connections.forEach((connection, c) => {
        if (connectionIds.has(connection.id)) {
          ctx.addIssue({ code: 'custom', path: ['tenants', t, 'connections', c, 'id'], message: `duplicate connection id '${connection.id}' (connection ids are global: they appear in URLs)` });
        }
        connectionIds.add(connection.id);
        if (connection.idp.metadataUrl?.startsWith('http:') && !config.saml.allowPrivateMetadataUrls) {
          ctx.addIssue({ code: 'custom', path: ['tenants', t, 'connections', c, 'idp', 'metadataUrl'], message: 'must be an https URL (http only with saml.allowPrivateMetadataUrls, for development)' });
        }
      });
    });
    const domains = new Map<string, string>();
    config.tenants.forEach((tenant, t) => {
      tenant.emailDomains.forEach((domain, d) => {
        const owner = domains.get(domain);
        if (owner) ctx.addIssue({ code: 'custom', path: ['tenants', t, 'emailDomains', d], message: `domain '${domain}' already belongs to tenant '${owner}'` });
        domains.set(domain, tenant.id);
      });
    });
    // Login links find a tenant by one external id of one kind (the index tenant-by-external-id:kind:value):
    // the same value on two tenants would send one tenant's links to the other's IdP. The same value
    // under two kinds (an organization id equal to another tenant's customer id) is a different key.
    const externalIds = new Map<string, string>();
    config.tenants.forEach((tenant, t) => {
      for (const [kind, value] of Object.entries(tenant.externalIds)) {
        if (value === undefined) continue;
        const key = `${kind}:${value}`;
        const owner = externalIds.get(key);
        if (owner !== undefined) {
          ctx.addIssue({ code: 'custom', path: ['tenants', t, 'externalIds', kind], message: `${kind} external id '${value}' of tenant '${tenant.id}' already belongs to tenant '${owner}'` });
        } else externalIds.set(key, tenant.id);
      }
    });
    const clientIds = new Set<string>();
    config.clients.forEach((client, i) => {
      if (clientIds.has(client.clientId)) ctx.addIssue({ code: 'custom', path: ['clients', i, 'clientId'], message: `duplicate clientId '${client.clientId}'` });
      clientIds.add(client.clientId);
      client.allowedTenants.forEach((tenantId, j) => {
        if (!tenantIds.has(tenantId)) ctx.addIssue({ code: 'custom', path: ['clients', i, 'allowedTenants', j], message: `unknown tenant '${tenantId}'` });
      });
    });
    config.resourceServers.forEach((rs, r) => {
      rs.introspectionClients.forEach((clientId, j) => {
        const client = config.clients.find((c) => c.clientId === clientId);
        if (!client) ctx.addIssue({ code: 'custom', path: ['resourceServers', r, 'introspectionClients', j], message: `unknown client '${clientId}'` });
        else if (client.kind !== 'backend') ctx.addIssue({ code: 'custom', path: ['resourceServers', r, 'introspectionClients', j], message: `'${clientId}' is a public ${client.kind} client: only backends (confidential clients) may introspect` });
      });
    });
  });

export type BrokerConfigInput = z.input<typeof brokerConfigSchema>;
export type BrokerConfig = z.output<typeof brokerConfigSchema>;
export type TenantConfig = BrokerConfig['tenants'][number];
export type ConnectionConfig = TenantConfig['connections'][number];
export type ClientConfig = BrokerConfig['clients'][number];
export type ResourceServerConfig = BrokerConfig['resourceServers'][number];
