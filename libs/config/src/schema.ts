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
    /** The IdP's SSO URL (HTTP-Redirect binding). */
    ssoUrl: httpUrl.optional(),
    /** The IdP's signing certificate(s); responses must be signed by one of them. */
    certificates: z.array(certificateSchema).min(1).optional(),
    /** An IdP metadata XML file that supplies whatever of the above is not given. */
    metadataFile: z.string().min(1).optional(),
  })
  .strict()
  .refine((idp) => idp.metadataFile !== undefined || (idp.entityId && idp.ssoUrl && idp.certificates), {
    error: 'give entityId, ssoUrl and certificates, or a metadataFile',
  });

const attributeMappingSchema = z
  .object({
    /** Attribute holding the email address; default 'email' (NameID is used when absent and it is an email). */
    email: z.string().min(1).default('email'),
    /** Attribute holding the given name; default 'givenName'. */
    givenName: z.string().min(1).default('givenName'),
    /** Attribute holding the surname; default 'surname'. */
    surname: z.string().min(1).default('surname'),
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
    attributes: attributeMappingSchema.default({ email: 'email', givenName: 'givenName', surname: 'surname' }),
    /** Role given to users created on their first login through this connection; default: the tenant's. */
    defaultRole: z.string().min(1).optional(),
  })
  .strict()
  .superRefine((connection, ctx) => {
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
    /** Email domains that route to this tenant (home-realm discovery). */
    emailDomains: z.array(z.string().regex(/^[a-z0-9.-]+\.[a-z]{2,}$/, 'must be a lowercase domain name')).default([]),
    /** Role given to users created on first login (default 'member'). */
    defaultRole: z.string().min(1).default('member'),
    connections: z.array(connectionSchema).min(1),
  })
  .strict();

const clientSchema = z
  .object({
    clientId: z.string().regex(/^[A-Za-z0-9._-]{1,128}$/, 'must be 1-128 of A-Z a-z 0-9 . _ -'),
    displayName: z.string().min(1).optional(),
    /** public: native apps and SPAs (PKCE, no secret); confidential: backends with a secret. */
    type: z.enum(['public', 'confidential']),
    /** native (RFC 8252 redirects) or web. Default: native for public clients, web for confidential ones. */
    applicationType: z.enum(['native', 'web']).optional(),
    clientSecret: secretSchema.optional(),
    redirectUris: z.array(z.string().min(1)).min(1),
    postLogoutRedirectUris: z.array(z.string().min(1)).default([]),
    /** Tenants whose users may sign in to this client. */
    allowedTenants: z.array(id).min(1),
    /** First-party clients are not shown a consent screen (default true). */
    firstParty: z.boolean().default(true),
  })
  .strict()
  .superRefine((client, ctx) => {
    if (client.type === 'confidential' && client.clientSecret === undefined) {
      ctx.addIssue({ code: 'custom', path: ['clientSecret'], message: 'a confidential client needs a clientSecret' });
    }
    if (client.type === 'public' && client.clientSecret !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['clientSecret'], message: 'a public client must not have a clientSecret' });
    }
  });

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
    tenants: z.array(tenantSchema).min(1),
    clients: z.array(clientSchema).min(1),
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
    const clientIds = new Set<string>();
    config.clients.forEach((client, i) => {
      if (clientIds.has(client.clientId)) ctx.addIssue({ code: 'custom', path: ['clients', i, 'clientId'], message: `duplicate clientId '${client.clientId}'` });
      clientIds.add(client.clientId);
      client.allowedTenants.forEach((tenantId, j) => {
        if (!tenantIds.has(tenantId)) ctx.addIssue({ code: 'custom', path: ['clients', i, 'allowedTenants', j], message: `unknown tenant '${tenantId}'` });
      });
    });
  });

export type BrokerConfigInput = z.input<typeof brokerConfigSchema>;
export type BrokerConfig = z.output<typeof brokerConfigSchema>;
export type TenantConfig = BrokerConfig['tenants'][number];
export type ConnectionConfig = TenantConfig['connections'][number];
export type ClientConfig = BrokerConfig['clients'][number];
