import { createHash, randomUUID } from 'node:crypto';
// samlify is CommonJS and its index re-exports are invisible to Node's ESM named-export
// detection (e.g. `SamlLib`), so take the whole module as the default import.
import samlify from 'samlify';
import type { IdentityProviderInstance, ServiceProviderInstance } from 'samlify';
import type { DevIdpAttributeProfile, DevIdpConfig, DevIdpUser } from './config.ts';

const BINDING_POST = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST';
const BINDING_REDIRECT = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect';
const NAMEID_EMAIL = 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress';
const NAMEID_PERSISTENT = 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent';
const ATTRNAME_BASIC = 'urn:oasis:names:tc:SAML:2.0:attrname-format:basic';
const RSA_SHA256 = 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256';
const PASSWORD_PROTECTED_TRANSPORT = 'urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport';
/** How long the assertion is valid: the SP must consume it within this window. */
const ASSERTION_LIFETIME_MS = 5 * 60 * 1000;

/** Entra ID's (Azure AD's) claim URIs, as its SAML apps send them by default. */
export const AZURE_CLAIMS = {
  emailAddress: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress',
  givenName: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname',
  surname: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname',
  name: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name',
  objectIdentifier: 'http://schemas.microsoft.com/identity/claims/objectidentifier',
  groups: 'http://schemas.microsoft.com/ws/2008/06/identity/claims/groups',
} as const;

// The whole Response, so that the AuthnStatement and the placement of the attributes are ours.
// `{DevIdpAttributes}` is our slot for the attribute statement, filled after samlify's tag pass
// (so attribute text is never re-scanned for tags), because samlify's one-value-per-attribute
// template fixed at construction can express neither multi-valued attributes nor a per-SP
// attribute profile. Tags whose value is undefined are dropped by samlify's replaceTagsByValue,
// attribute and all: SessionNotOnOrAfter, and both InResponseTo for an unsolicited (IdP-initiated)
// response.
const ATTRIBUTES_SLOT = '{DevIdpAttributes}';
const RESPONSE_TEMPLATE = [
  '<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"',
  ' ID="{ID}" Version="2.0" IssueInstant="{IssueInstant}" Destination="{Destination}" InResponseTo="{InResponseTo}">',
  '<saml:Issuer>{Issuer}</saml:Issuer>',
  '<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>',
  '<saml:Assertion xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xs="http://www.w3.org/2001/XMLSchema"',
  ' ID="{AssertionID}" Version="2.0" IssueInstant="{IssueInstant}">',
  '<saml:Issuer>{Issuer}</saml:Issuer>',
  '<saml:Subject><saml:NameID Format="{NameIDFormat}">{NameID}</saml:NameID>',
  '<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">',
  '<saml:SubjectConfirmationData NotOnOrAfter="{NotOnOrAfter}" Recipient="{Recipient}" InResponseTo="{InResponseTo}"/>',
  '</saml:SubjectConfirmation></saml:Subject>',
  '<saml:Conditions NotBefore="{NotBefore}" NotOnOrAfter="{NotOnOrAfter}">',
  '<saml:AudienceRestriction><saml:Audience>{Audience}</saml:Audience></saml:AudienceRestriction></saml:Conditions>',
  '<saml:AuthnStatement AuthnInstant="{IssueInstant}" SessionIndex="{SessionIndex}" SessionNotOnOrAfter="{SessionNotOnOrAfter}">',
  '<saml:AuthnContext><saml:AuthnContextClassRef>{AuthnContextClassRef}</saml:AuthnContextClassRef></saml:AuthnContext>',
  '</saml:AuthnStatement>',
  ATTRIBUTES_SLOT,
  '</saml:Assertion></samlp:Response>',
].join('');

const ATTRIBUTE_OPEN_TEMPLATE = '<saml:Attribute Name="{Name}" NameFormat="{NameFormat}">';
const ATTRIBUTE_VALUE_TEMPLATE =
  '<saml:AttributeValue xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="xs:string">{Value}</saml:AttributeValue>';

/** What /sso learned from an AuthnRequest, before the allow-list check. */
export interface ParsedAuthnRequest {
  id: string;
  issuer: string;
  acsUrl?: string;
}

export interface LoginResponseInput {
  user: DevIdpUser;
  /** The AuthnRequest answered; undefined for an unsolicited (IdP-initiated) response, which names no request. */
  requestId?: string | undefined;
  spEntityId: string;
  acsUrl: string;
  /** The SP's attribute profile (default: default). */
  attributeProfile?: DevIdpAttributeProfile | undefined;
}

export interface SamlIdp {
  metadataXml: string;
  parseAuthnRequest(binding: 'redirect' | 'post', fields: Record<string, string>): Promise<ParsedAuthnRequest>;
  /**
   * The base64 SAMLResponse: Assertion and Response both signed with RSA-SHA256; without a
   * requestId, an unsolicited one with no InResponseTo anywhere.
   */
  createLoginResponse(input: LoginResponseInput): Promise<string>;
}

export function createSamlIdp(config: DevIdpConfig): SamlIdp {
  // samlify refuses to parse anything until a schema validator is registered, and no XSD
  // validator package is installed here. The dev IdP only turns requests from allow-listed SPs
  // in a local setting into a login form; it trusts nothing in them beyond ID, Issuer and ACS
  // URL, and those are checked below. samlify's DOM parser already rejects malformed XML and
  // entity references. Note: this setting is global to the samlify module.
  samlify.setSchemaValidator({ validate: () => Promise.resolve('skipped') });

  const ssoUrl = `${config.baseUrl}/sso`;
  const idp: IdentityProviderInstance = samlify.IdentityProvider({
    entityID: config.entityId,
    privateKey: config.signing.privateKeyPem,
    signingCert: config.signing.certificatePem,
    // Despite the name, samlify signs login responses with this algorithm (digest follows it).
    requestSignatureAlgorithm: RSA_SHA256,
    wantAuthnRequestsSigned: false,
    nameIDFormat: [NAMEID_EMAIL, NAMEID_PERSISTENT],
    singleSignOnService: [
      { Binding: BINDING_REDIRECT, Location: ssoUrl },
      { Binding: BINDING_POST, Location: ssoUrl },
    ],
    loginResponseTemplate: {
      context: RESPONSE_TEMPLATE,
      // None here: the attribute statement goes into ATTRIBUTES_SLOT per login.
      attributes: [],
    },
  });

  // samlify needs "the SP" to parse a request, but only uses it to verify signatures, which this
  // IdP does not require. The real issuer is read from the request and checked by the caller.
  const anySp = samlify.ServiceProvider({ entityID: 'urn:dev-idp:unverified-issuer' });

  return {
    metadataXml: idp.getMetadata(),

    async parseAuthnRequest(binding, fields) {
      const request = binding === 'redirect' ? { query: fields } : { body: fields };
      const { extract } = await idp.parseLoginRequest(anySp, binding, request);
      const id = firstString(extract.request?.['id']);
      const issuer = firstString(extract.issuer);
      if (!id || !issuer) throw new Error('AuthnRequest without ID or Issuer');
      // xs:ID is an NCName; refusing anything else also keeps `{Tag}` text out of the template.
      if (!/^[A-Za-z_][\w.-]*$/.test(id)) throw new Error('AuthnRequest ID is not an NCName');
      const acsUrl = firstString(extract.request?.['assertionConsumerServiceUrl']);
      return acsUrl ? { id, issuer, acsUrl } : { id, issuer };
    },

    async createLoginResponse({ user, requestId, spEntityId, acsUrl, attributeProfile }) {
      // A per-login SP entity: samlify takes Destination/Recipient from the SP's ACS, and signs
      // the Assertion when the SP "wants assertions signed" and the Response when it "wants the
      // message signed". Asking for both yields both signatures.
      const sp: ServiceProviderInstance = samlify.ServiceProvider({
        entityID: spEntityId,
        assertionConsumerService: [{ Binding: BINDING_POST, Location: acsUrl }],
        wantAssertionsSigned: true,
        wantMessageSigned: true,
      });
      const profile = attributeProfile ?? 'default';
      const now = Date.now();
      const responseId = `_${randomUUID()}`;
      const values = {
        ID: responseId,
        AssertionID: `_${randomUUID()}`,
        IssueInstant: new Date(now).toISOString(),
        Destination: acsUrl,
        Recipient: acsUrl,
        Issuer: config.entityId,
        Audience: spEntityId,
        NotBefore: new Date(now).toISOString(),
        NotOnOrAfter: new Date(now + ASSERTION_LIFETIME_MS).toISOString(),
        NameIDFormat: profile === 'azure' ? NAMEID_PERSISTENT : NAMEID_EMAIL,
        NameID: profile === 'azure' ? persistentId(config.entityId, spEntityId, user.username) : user.email,
        SessionIndex: `_${randomUUID()}`,
        SessionNotOnOrAfter: config.sessionTtlSeconds
          ? new Date(now + config.sessionTtlSeconds * 1000).toISOString()
          : undefined,
        AuthnContextClassRef: user.authnContextClassRef ?? PASSWORD_PROTECTED_TRANSPORT,
        // Last: samlify substitutes tags one after another, so a value could otherwise be
        // rewritten by a later tag. This is the only value that comes from the SP. Undefined
        // (IdP-initiated) drops both InResponseTo attributes.
        InResponseTo: requestId,
      };
      const statement = attributeStatement(profile, loginAttributes(profile, config.entityId, user));
      const result = await idp.createLoginResponse(
        sp,
        // Only informative: customTagReplacement below writes InResponseTo (or drops it).
        { extract: requestId === undefined ? {} : { request: { id: requestId } } },
        'post',
        { email: user.email },
        {
          customTagReplacement: (template) => {
            // The attributes go in last, after the tag pass, so their (escaped) text is never
            // re-scanned; the slot is the last one in the template.
            const tagged = samlify.SamlLib.replaceTagsByValue(template, values);
            const slot = tagged.lastIndexOf(ATTRIBUTES_SLOT);
            return { id: responseId, context: `${tagged.slice(0, slot)}${statement}${tagged.slice(slot + ATTRIBUTES_SLOT.length)}` };
          },
        },
      );
      return result.context;
    },
  };
}

/**
 * The attributes of a login, in order: the profile's (default: email, givenName, surname and
 * groups; azure: Entra ID's claim URIs, the object id and groups), then the user's own
 * `attributes`, which replace a profile attribute of the same name.
 */
function loginAttributes(profile: DevIdpAttributeProfile, idpEntityId: string, user: DevIdpUser): Map<string, string[]> {
  const attributes = new Map<string, string[]>();
  if (profile === 'azure') {
    attributes.set(AZURE_CLAIMS.objectIdentifier, [objectId(idpEntityId, user.username)]);
    attributes.set(AZURE_CLAIMS.emailAddress, [user.email]);
    attributes.set(AZURE_CLAIMS.givenName, [user.givenName]);
    attributes.set(AZURE_CLAIMS.surname, [user.surname]);
    // Entra ID's `name` claim is the user principal name, which for most tenants is the email.
    attributes.set(AZURE_CLAIMS.name, [user.email]);
    if (user.groups?.length) attributes.set(AZURE_CLAIMS.groups, user.groups);
  } else {
    attributes.set('email', [user.email]);
    attributes.set('givenName', [user.givenName]);
    attributes.set('surname', [user.surname]);
    if (user.groups?.length) attributes.set('groups', user.groups);
  }
  for (const [name, value] of Object.entries(user.attributes ?? {})) attributes.set(name, Array.isArray(value) ? value : [value]);
  return attributes;
}

/** The AttributeStatement, every name and value escaped; Entra ID sends no NameFormat. */
function attributeStatement(profile: DevIdpAttributeProfile, attributes: Map<string, string[]>): string {
  if (attributes.size === 0) return '';
  const nameFormat = profile === 'azure' ? undefined : ATTRNAME_BASIC;
  const xml = [...attributes].map(([name, list]) => {
    const valueXml = list.map((value) => samlify.SamlLib.replaceTagsByValue(ATTRIBUTE_VALUE_TEMPLATE, { Value: value })).join('');
    return `${samlify.SamlLib.replaceTagsByValue(ATTRIBUTE_OPEN_TEMPLATE, { Name: name, NameFormat: nameFormat })}${valueXml}</saml:Attribute>`;
  });
  return `<saml:AttributeStatement>${xml.join('')}</saml:AttributeStatement>`;
}

/**
 * A persistent NameID as Entra ID sends it: opaque, stable for one user at one SP (pairwise),
 * and not revealing the user's name or email. 43 base64url characters.
 */
export function persistentId(idpEntityId: string, spEntityId: string, username: string): string {
  return createHash('sha256').update(`persistent\0${idpEntityId}\0${spEntityId}\0${username}`).digest('base64url');
}

/** A stable object id (a GUID, like Entra ID's oid) per user of this IdP. */
function objectId(idpEntityId: string, username: string): string {
  const hex = createHash('sha256').update(`oid\0${idpEntityId}\0${username}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

function firstString(value: unknown): string | undefined {
  const first: unknown = Array.isArray(value) ? value[0] : value;
  return typeof first === 'string' && first.length > 0 ? first : undefined;
}
