import { randomUUID } from 'node:crypto';
// samlify is CommonJS and its index re-exports are invisible to Node's ESM named-export
// detection (e.g. `SamlLib`), so take the whole module as the default import.
import samlify from 'samlify';
import type { IdentityProviderInstance, ServiceProviderInstance } from 'samlify';
import type { DevIdpConfig, DevIdpUser } from './config.ts';

const BINDING_POST = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST';
const BINDING_REDIRECT = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect';
const NAMEID_EMAIL = 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress';
const ATTRNAME_BASIC = 'urn:oasis:names:tc:SAML:2.0:attrname-format:basic';
const RSA_SHA256 = 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256';
/** How long the assertion is valid: the SP must consume it within this window. */
const ASSERTION_LIFETIME_MS = 5 * 60 * 1000;

// The whole Response, so that the AuthnStatement and the placement of the attributes are ours.
// samlify fills `{AttributeStatement}` at construction from `attributes` below (which become
// `{attrEmail}`-style tags); `{GroupsAttribute}` is our slot for the optional, multi-valued
// `groups`, which samlify's one-value-per-attribute template cannot express. Attributes whose tag
// value is undefined (SessionNotOnOrAfter) are dropped by samlify's replaceTagsByValue.
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
  '<saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext>',
  '</saml:AuthnStatement>',
  '{AttributeStatement}',
  '</saml:Assertion></samlp:Response>',
].join('');

const stringAttribute = (name: string, valueTag: string) => ({
  name,
  valueTag,
  nameFormat: ATTRNAME_BASIC,
  valueXsiType: 'xs:string',
});

const GROUP_VALUE_TEMPLATE =
  '<saml:AttributeValue xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="xs:string">{Value}</saml:AttributeValue>';

/** What /sso learned from an AuthnRequest, before the allow-list check. */
export interface ParsedAuthnRequest {
  id: string;
  issuer: string;
  acsUrl?: string;
}

export interface LoginResponseInput {
  user: DevIdpUser;
  requestId: string;
  spEntityId: string;
  acsUrl: string;
}

export interface SamlIdp {
  metadataXml: string;
  parseAuthnRequest(binding: 'redirect' | 'post', fields: Record<string, string>): Promise<ParsedAuthnRequest>;
  /** The base64 SAMLResponse: Assertion and Response both signed with RSA-SHA256. */
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
    nameIDFormat: [NAMEID_EMAIL],
    singleSignOnService: [
      { Binding: BINDING_REDIRECT, Location: ssoUrl },
      { Binding: BINDING_POST, Location: ssoUrl },
    ],
    loginResponseTemplate: {
      context: RESPONSE_TEMPLATE,
      attributes: [
        stringAttribute('email', 'email'),
        stringAttribute('givenName', 'givenName'),
        stringAttribute('surname', 'surname'),
      ],
      additionalTemplates: {
        attributeStatementTemplate: {
          context: '<saml:AttributeStatement>{Attributes}{GroupsAttribute}</saml:AttributeStatement>',
        },
      },
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

    async createLoginResponse({ user, requestId, spEntityId, acsUrl }) {
      // A per-login SP entity: samlify takes Destination/Recipient from the SP's ACS, and signs
      // the Assertion when the SP "wants assertions signed" and the Response when it "wants the
      // message signed". Asking for both yields both signatures.
      const sp: ServiceProviderInstance = samlify.ServiceProvider({
        entityID: spEntityId,
        assertionConsumerService: [{ Binding: BINDING_POST, Location: acsUrl }],
        wantAssertionsSigned: true,
        wantMessageSigned: true,
      });
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
        NameIDFormat: NAMEID_EMAIL,
        NameID: user.email,
        SessionIndex: `_${randomUUID()}`,
        SessionNotOnOrAfter: config.sessionTtlSeconds
          ? new Date(now + config.sessionTtlSeconds * 1000).toISOString()
          : undefined,
        attrEmail: user.email,
        attrGivenName: user.givenName,
        attrSurname: user.surname,
        // Last: samlify substitutes tags one after another, so a value could otherwise be
        // rewritten by a later tag. This is the only value that comes from the SP.
        InResponseTo: requestId,
      };
      const result = await idp.createLoginResponse(
        sp,
        { extract: { request: { id: requestId } } },
        'post',
        { email: user.email },
        {
          customTagReplacement: (template) => ({
            id: responseId,
            // Groups go in last, after the tag pass, so their (escaped) text is never re-scanned.
            context: samlify.SamlLib.replaceTagsByValue(template, values).replace('{GroupsAttribute}', () =>
              groupsAttribute(user.groups),
            ),
          }),
        },
      );
      return result.context;
    },
  };
}

function groupsAttribute(groups: string[] | undefined): string {
  if (!groups?.length) return '';
  const values = groups.map((group) => samlify.SamlLib.replaceTagsByValue(GROUP_VALUE_TEMPLATE, { Value: group }));
  return `<saml:Attribute Name="groups" NameFormat="${ATTRNAME_BASIC}">${values.join('')}</saml:Attribute>`;
}

function firstString(value: unknown): string | undefined {
  const first: unknown = Array.isArray(value) ? value[0] : value;
  return typeof first === 'string' && first.length > 0 ? first : undefined;
}
