/**
 * Test-only: SAML responses shaped like those of three IdPs customers use, signed with xml-crypto
 * and the idp-a test key. Used by vendor-shapes.test.ts and by tools/saml-acs-bench.ts.
 *
 * What each template is modelled on (public documentation and responses as these IdPs send them;
 * the values are invented, the shapes are theirs):
 *
 * Microsoft Entra ID (Azure AD): "Single sign-on SAML protocol" (learn.microsoft.com, Microsoft
 * Entra identity platform) response sample, and "SAML token claims reference". `samlp:`-prefixed
 * Response with an unprefixed, namespace-declaring `<Issuer xmlns=...>`; the Assertion declares
 * the assertion namespace as its *default* namespace (no prefix on any assertion element); Issuer
 * `https://sts.windows.net/{tenant-id}/`; IDs `_` + GUID; only the Assertion is signed by default
 * ("Sign SAML assertion"), RSA-SHA256/SHA-256, exclusive C14N, an unprefixed
 * `<Signature xmlns="http://www.w3.org/2000/09/xmldsig#">` right after the Assertion's Issuer with
 * the signing certificate in KeyInfo; NameID persistent (a pairwise opaque value) or emailAddress;
 * Conditions NotBefore five minutes *before* IssueInstant and NotOnOrAfter an hour after; the
 * bearer SubjectConfirmationData expires after five minutes; the AttributeStatement comes before
 * the AuthnStatement; AttributeValues carry no xsi:type; claim URIs under
 * http://schemas.xmlsoap.org/ws/2005/05/identity/claims/ and
 * http://schemas.microsoft.com/identity/claims/, groups as object IDs (multi-valued
 * http://schemas.microsoft.com/ws/2008/06/identity/claims/groups); AuthnInstant is the time of
 * the sign-in at Entra, which with an existing Entra session can be hours before IssueInstant.
 *
 * Okta: Okta's "SAML assertion" examples in its developer docs and the responses an Okta SAML app
 * sends with its defaults ("Response: Signed", "Assertion Signature: Signed", RSA-SHA256).
 * `saml2p:`/`saml2:` prefixes, redeclared on many child elements; Issuer `http://www.okta.com/{app
 * key}` with `Format="...nameid-format:entity"`; IDs `id` + digits (no underscore); both the
 * Assertion and then the Response are signed, each Signature after its Issuer, with
 * `<ec:InclusiveNamespaces PrefixList="xs"/>` in the exclusive C14N transform (attribute values
 * are typed `xsi:type="xs:string"`, and `xs` is declared on the Response and the Assertion);
 * NameID emailAddress; attribute statements as configured in the app (here firstName, lastName,
 * email, groups) with NameFormat unspecified; AuthnStatement before AttributeStatement;
 * Conditions valid five minutes either side of IssueInstant; AuthnContextClassRef
 * PasswordProtectedTransport.
 *
 * AD FS (2012 R2 - 2022): the responses of a relying party trust with default settings (SHA-256,
 * "sign assertion only", which is AD FS's default SamlResponseSignature AssertionOnly) and the
 * claim rules "Send LDAP Attributes as Claims" plus a NameID "Transform an Incoming Claim" rule.
 * `samlp:` Response with `Consent="urn:oasis:names:tc:SAML:2.0:consent:unspecified"`, Destination
 * and InResponseTo; unprefixed Issuer `http://{host}/adfs/services/trust`; the Assertion uses the
 * default namespace; `ds:`-prefixed Signature after the Assertion's Issuer; NameID transient (a
 * random value) or unspecified (e.g. a DOMAIN\user account name); Conditions NotBefore at
 * IssueInstant and NotOnOrAfter an hour later, the bearer confirmation five minutes; claim URIs
 * like Entra's (emailaddress, givenname, surname, upn) plus multi-valued
 * http://schemas.xmlsoap.org/claims/Group; AuthnContextClassRef PasswordProtectedTransport (forms
 * login).
 *
 * Deliberate departure: IssueInstants are ISO-8601 with milliseconds as all three send them.
 */
import { randomUUID } from 'node:crypto';
import { SignedXml } from 'xml-crypto';
import { TEST_KEYS, instant } from './support.ts';

const RSA_SHA256 = 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256';
const SHA256 = 'http://www.w3.org/2001/04/xmlenc#sha256';
const EXC_C14N = 'http://www.w3.org/2001/10/xml-exc-c14n#';
const ENVELOPED = 'http://www.w3.org/2000/09/xmldsig#enveloped-signature';
const SUCCESS = 'urn:oasis:names:tc:SAML:2.0:status:Success';
const BEARER = 'urn:oasis:names:tc:SAML:2.0:cm:bearer';
const MINUTE = 60_000;

export const NAMEID = {
  persistent: 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent',
  transient: 'urn:oasis:names:tc:SAML:2.0:nameid-format:transient',
  emailAddress: 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress',
  unspecified: 'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified',
} as const;

export const AUTHN_CONTEXT = {
  password: 'urn:oasis:names:tc:SAML:2.0:ac:classes:Password',
  passwordProtectedTransport: 'urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport',
} as const;

/** The WS-Federation / Microsoft claim URIs Entra ID and AD FS use as SAML attribute names. */
export const CLAIMS = {
  name: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name',
  emailaddress: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress',
  givenname: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname',
  surname: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname',
  upn: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn',
  objectidentifier: 'http://schemas.microsoft.com/identity/claims/objectidentifier',
  tenantid: 'http://schemas.microsoft.com/identity/claims/tenantid',
  displayname: 'http://schemas.microsoft.com/identity/claims/displayname',
  identityprovider: 'http://schemas.microsoft.com/identity/claims/identityprovider',
  authnmethodsreferences: 'http://schemas.microsoft.com/claims/authnmethodsreferences',
  entraGroups: 'http://schemas.microsoft.com/ws/2008/06/identity/claims/groups',
  adfsGroup: 'http://schemas.xmlsoap.org/claims/Group',
} as const;

/** What every vendor response answers: our AuthnRequest, for our entity and ACS. */
export interface ResponseTarget {
  requestId: string;
  spEntityId: string;
  acsUrl: string;
  /** The IdP's clock (epoch ms); default now. */
  nowMs?: number;
}

export interface VendorPerson {
  email: string;
  givenName: string;
  surname: string;
}

const escapeXml = (value: string): string =>
  value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');

const base64 = (xml: string): string => Buffer.from(xml, 'utf8').toString('base64');

interface SignOptions {
  /** XPath of the element to sign (it has an ID attribute). */
  reference: string;
  /** XPath of the element the Signature goes after (the signed element's Issuer). */
  after: string;
  /** Signature element prefix; '' for an unprefixed element with a default namespace. */
  prefix: string;
  inclusiveNamespaces?: string[];
  /** PEM certificates for KeyInfo's X509Data, in order; [] for no KeyInfo (default: idp-a's alone). */
  keyInfoCertificates?: string[];
}

/** An enveloped RSA-SHA256 signature with the idp-a certificate in KeyInfo, as all three send. */
function sign(xml: string, options: SignOptions): string {
  const signer = new SignedXml({
    privateKey: TEST_KEYS.idpKey,
    publicCert: TEST_KEYS.idpCert,
    signatureAlgorithm: RSA_SHA256,
    canonicalizationAlgorithm: EXC_C14N,
    ...(options.keyInfoCertificates
      ? {
          getKeyInfoContent: ({ prefix }: { prefix?: string | null } = {}) => {
            // No certificates: no KeyInfo at all (xml-crypto leaves it out for null).
            if (options.keyInfoCertificates?.length === 0) return null;
            const p = prefix ? `${prefix}:` : '';
            const certs = (options.keyInfoCertificates ?? []).map((pem) => `<${p}X509Certificate>${pem.replace(/-----[A-Z ]+-----|\s+/g, '')}</${p}X509Certificate>`);
            return `<${p}X509Data>${certs.join('')}</${p}X509Data>`;
          },
        }
      : {}),
  });
  signer.addReference({
    xpath: options.reference,
    transforms: [ENVELOPED, EXC_C14N],
    digestAlgorithm: SHA256,
    ...(options.inclusiveNamespaces ? { inclusiveNamespacesPrefixList: options.inclusiveNamespaces } : {}),
  });
  signer.computeSignature(xml, { prefix: options.prefix, location: { reference: options.after, action: 'after' } });
  return signer.getSignedXml();
}

const RESPONSE_XPATH = "/*[local-name()='Response']";
const ASSERTION_XPATH = "/*[local-name()='Response']/*[local-name()='Assertion']";

// ---------------------------------------------------------------------------------------------
// Microsoft Entra ID

export interface EntraResponseInput extends ResponseTarget {
  person: VendorPerson;
  nameIdFormat: 'persistent' | 'emailAddress';
  tenantId?: string;
  objectId?: string;
  /** Group object IDs (the groups claim); none by default. */
  groups?: string[];
  /** More single-valued claims (name URI to value), e.g. to reach a realistic size. */
  extraClaims?: Record<string, string>;
  /** When the person signed in at Entra (default 3 hours before now: an existing session). */
  authnInstantMs?: number;
  /** IDs (defaults: fresh `_` + GUID). */
  responseId?: string;
  assertionId?: string;
}

export const entraIssuer = (tenantId: string): string => `https://sts.windows.net/${tenantId}/`;
export const ENTRA_TENANT_ID = '72f988bf-86f1-41af-91ab-2d7cd011db47';

/** A Microsoft Entra ID SAML response (Assertion signed only), base64. */
export function entraIdResponse(input: EntraResponseInput): string {
  const now = input.nowMs ?? Date.now();
  const tenantId = input.tenantId ?? ENTRA_TENANT_ID;
  const objectId = input.objectId ?? 'b2c9e5b4-3f0e-4a7c-9d1a-0c6f2e8d7a51';
  const issuer = entraIssuer(tenantId);
  const assertionId = input.assertionId ?? `_${randomUUID()}`;
  const nameId = input.nameIdFormat === 'persistent' ? 'm6rAl1bmcK0Kq7-0_zT4OWfHrr6QIWKaUo2WnCnqVX8' : input.person.email;
  const claim = (name: string, values: string[]): string =>
    `<Attribute Name="${escapeXml(name)}">${values.map((v) => `<AttributeValue>${escapeXml(v)}</AttributeValue>`).join('')}</Attribute>`;
  const claims = [
    claim(CLAIMS.tenantid, [tenantId]),
    claim(CLAIMS.objectidentifier, [objectId]),
    claim(CLAIMS.displayname, [`${input.person.givenName} ${input.person.surname}`]),
    ...(input.groups?.length ? [claim(CLAIMS.entraGroups, input.groups)] : []),
    claim(CLAIMS.identityprovider, [issuer]),
    claim(CLAIMS.authnmethodsreferences, ['http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/password', 'http://schemas.microsoft.com/claims/multipleauthn']),
    claim(CLAIMS.givenname, [input.person.givenName]),
    claim(CLAIMS.surname, [input.person.surname]),
    claim(CLAIMS.emailaddress, [input.person.email]),
    claim(CLAIMS.name, [input.person.email]),
    ...Object.entries(input.extraClaims ?? {}).map(([name, value]) => claim(name, [value])),
  ].join('');
  const xml =
    `<samlp:Response ID="${input.responseId ?? `_${randomUUID()}`}" Version="2.0" IssueInstant="${instant(0, now)}" Destination="${escapeXml(input.acsUrl)}" InResponseTo="${escapeXml(input.requestId)}" xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">` +
    `<Issuer xmlns="urn:oasis:names:tc:SAML:2.0:assertion">${issuer}</Issuer>` +
    `<samlp:Status><samlp:StatusCode Value="${SUCCESS}"/></samlp:Status>` +
    `<Assertion ID="${assertionId}" IssueInstant="${instant(0, now)}" Version="2.0" xmlns="urn:oasis:names:tc:SAML:2.0:assertion">` +
    `<Issuer>${issuer}</Issuer>` +
    `<Subject><NameID Format="${NAMEID[input.nameIdFormat]}">${escapeXml(nameId)}</NameID>` +
    `<SubjectConfirmation Method="${BEARER}"><SubjectConfirmationData InResponseTo="${escapeXml(input.requestId)}" NotOnOrAfter="${instant(5 * MINUTE, now)}" Recipient="${escapeXml(input.acsUrl)}"/></SubjectConfirmation></Subject>` +
    `<Conditions NotBefore="${instant(-5 * MINUTE, now)}" NotOnOrAfter="${instant(60 * MINUTE, now)}"><AudienceRestriction><Audience>${escapeXml(input.spEntityId)}</Audience></AudienceRestriction></Conditions>` +
    `<AttributeStatement>${claims}</AttributeStatement>` +
    `<AuthnStatement AuthnInstant="${new Date(input.authnInstantMs ?? now - 180 * MINUTE).toISOString()}" SessionIndex="${assertionId}">` +
    `<AuthnContext><AuthnContextClassRef>${AUTHN_CONTEXT.password}</AuthnContextClassRef></AuthnContext></AuthnStatement>` +
    `</Assertion></samlp:Response>`;
  return base64(sign(xml, { reference: ASSERTION_XPATH, after: `${ASSERTION_XPATH}/*[local-name()='Issuer']`, prefix: '' }));
}

// ---------------------------------------------------------------------------------------------
// Okta

export interface OktaResponseInput extends ResponseTarget {
  person: VendorPerson;
  groups?: string[];
  appKey?: string;
}

export const oktaIssuer = (appKey = 'exk1fcia6d6EMsf331d8'): string => `http://www.okta.com/${appKey}`;

/** An Okta SAML response (Response and Assertion signed), base64. */
export function oktaResponse(input: OktaResponseInput): string {
  const now = input.nowMs ?? Date.now();
  const issuer = oktaIssuer(input.appKey);
  const oktaId = (): string => `id${BigInt(`0x${randomUUID().replace(/-/g, '')}`).toString().slice(0, 30)}`;
  const SAML2 = 'xmlns:saml2="urn:oasis:names:tc:SAML:2.0:assertion"';
  const SAML2P = 'xmlns:saml2p="urn:oasis:names:tc:SAML:2.0:protocol"';
  const attribute = (name: string, values: string[]): string =>
    `<saml2:Attribute Name="${escapeXml(name)}" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:unspecified">` +
    values.map((v) => `<saml2:AttributeValue xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="xs:string">${escapeXml(v)}</saml2:AttributeValue>`).join('') +
    `</saml2:Attribute>`;
  const assertionId = oktaId();
  const xml =
    `<saml2p:Response ${SAML2P} Destination="${escapeXml(input.acsUrl)}" ID="${oktaId()}" InResponseTo="${escapeXml(input.requestId)}" IssueInstant="${instant(0, now)}" Version="2.0" xmlns:xs="http://www.w3.org/2001/XMLSchema">` +
    `<saml2:Issuer ${SAML2} Format="urn:oasis:names:tc:SAML:2.0:nameid-format:entity">${issuer}</saml2:Issuer>` +
    `<saml2p:Status ${SAML2P}><saml2p:StatusCode Value="${SUCCESS}"/></saml2p:Status>` +
    `<saml2:Assertion ${SAML2} ID="${assertionId}" IssueInstant="${instant(0, now)}" Version="2.0" xmlns:xs="http://www.w3.org/2001/XMLSchema">` +
    `<saml2:Issuer Format="urn:oasis:names:tc:SAML:2.0:nameid-format:entity" ${SAML2}>${issuer}</saml2:Issuer>` +
    `<saml2:Subject ${SAML2}><saml2:NameID Format="${NAMEID.emailAddress}">${escapeXml(input.person.email)}</saml2:NameID>` +
    `<saml2:SubjectConfirmation Method="${BEARER}"><saml2:SubjectConfirmationData InResponseTo="${escapeXml(input.requestId)}" NotOnOrAfter="${instant(5 * MINUTE, now)}" Recipient="${escapeXml(input.acsUrl)}"/></saml2:SubjectConfirmation></saml2:Subject>` +
    `<saml2:Conditions NotBefore="${instant(-5 * MINUTE, now)}" NotOnOrAfter="${instant(5 * MINUTE, now)}" ${SAML2}><saml2:AudienceRestriction><saml2:Audience>${escapeXml(input.spEntityId)}</saml2:Audience></saml2:AudienceRestriction></saml2:Conditions>` +
    `<saml2:AuthnStatement AuthnInstant="${instant(-2 * MINUTE, now)}" SessionIndex="${assertionId}" ${SAML2}><saml2:AuthnContext><saml2:AuthnContextClassRef>${AUTHN_CONTEXT.passwordProtectedTransport}</saml2:AuthnContextClassRef></saml2:AuthnContext></saml2:AuthnStatement>` +
    `<saml2:AttributeStatement ${SAML2}>` +
    attribute('firstName', [input.person.givenName]) +
    attribute('lastName', [input.person.surname]) +
    attribute('email', [input.person.email]) +
    (input.groups?.length ? attribute('groups', input.groups) : '') +
    `</saml2:AttributeStatement></saml2:Assertion></saml2p:Response>`;
  const assertionSigned = sign(xml, { reference: ASSERTION_XPATH, after: `${ASSERTION_XPATH}/*[local-name()='Issuer']`, prefix: 'ds', inclusiveNamespaces: ['xs'] });
  return base64(sign(assertionSigned, { reference: RESPONSE_XPATH, after: `${RESPONSE_XPATH}/*[local-name()='Issuer']`, prefix: 'ds', inclusiveNamespaces: ['xs'] }));
}

// ---------------------------------------------------------------------------------------------
// AD FS

export interface AdfsResponseInput extends ResponseTarget {
  person: VendorPerson;
  nameIdFormat: 'transient' | 'unspecified';
  /** The NameID value for `unspecified` (default CONTOSO\jdoe-style account name). */
  accountName?: string;
  groups?: string[];
  host?: string;
  /** KeyInfo certificates (PEM), e.g. the signing certificate and its issuer's. */
  keyInfoCertificates?: string[];
  /** Return the XML instead of base64 (to encrypt the assertion before posting). */
  raw?: boolean;
}

export const adfsIssuer = (host = 'adfs.contoso.test'): string => `http://${host}/adfs/services/trust`;

/** An AD FS SAML response (Assertion signed only), base64. */
export function adfsResponse(input: AdfsResponseInput): string {
  const now = input.nowMs ?? Date.now();
  const issuer = adfsIssuer(input.host);
  const assertionId = `_${randomUUID()}`;
  const nameId = input.nameIdFormat === 'transient' ? `_${randomUUID().replace(/-/g, '')}` : (input.accountName ?? 'CONTOSO\\jdoe');
  const claim = (name: string, values: string[]): string =>
    `<Attribute Name="${escapeXml(name)}">${values.map((v) => `<AttributeValue>${escapeXml(v)}</AttributeValue>`).join('')}</Attribute>`;
  const xml =
    `<samlp:Response ID="_${randomUUID()}" Version="2.0" IssueInstant="${instant(0, now)}" Destination="${escapeXml(input.acsUrl)}" Consent="urn:oasis:names:tc:SAML:2.0:consent:unspecified" InResponseTo="${escapeXml(input.requestId)}" xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">` +
    `<Issuer xmlns="urn:oasis:names:tc:SAML:2.0:assertion">${issuer}</Issuer>` +
    `<samlp:Status><samlp:StatusCode Value="${SUCCESS}" /></samlp:Status>` +
    `<Assertion ID="${assertionId}" IssueInstant="${instant(0, now)}" Version="2.0" xmlns="urn:oasis:names:tc:SAML:2.0:assertion">` +
    `<Issuer>${issuer}</Issuer>` +
    `<Subject><NameID Format="${NAMEID[input.nameIdFormat]}">${escapeXml(nameId)}</NameID>` +
    `<SubjectConfirmation Method="${BEARER}"><SubjectConfirmationData InResponseTo="${escapeXml(input.requestId)}" NotOnOrAfter="${instant(5 * MINUTE, now)}" Recipient="${escapeXml(input.acsUrl)}" /></SubjectConfirmation></Subject>` +
    `<Conditions NotBefore="${instant(0, now)}" NotOnOrAfter="${instant(60 * MINUTE, now)}"><AudienceRestriction><Audience>${escapeXml(input.spEntityId)}</Audience></AudienceRestriction></Conditions>` +
    `<AttributeStatement>` +
    claim(CLAIMS.emailaddress, [input.person.email]) +
    claim(CLAIMS.givenname, [input.person.givenName]) +
    claim(CLAIMS.surname, [input.person.surname]) +
    claim(CLAIMS.upn, [input.person.email]) +
    (input.groups?.length ? claim(CLAIMS.adfsGroup, input.groups) : '') +
    `</AttributeStatement>` +
    `<AuthnStatement AuthnInstant="${instant(-1000, now)}" SessionIndex="${assertionId}"><AuthnContext><AuthnContextClassRef>${AUTHN_CONTEXT.passwordProtectedTransport}</AuthnContextClassRef></AuthnContext></AuthnStatement>` +
    `</Assertion></samlp:Response>`;
  const signed = sign(xml, { reference: ASSERTION_XPATH, after: `${ASSERTION_XPATH}/*[local-name()='Issuer']`, prefix: 'ds', ...(input.keyInfoCertificates ? { keyInfoCertificates: input.keyInfoCertificates } : {}) });
  return input.raw ? signed : base64(signed);
}

/** The XML of a base64 SAMLResponse (for tests that look at the shape). */
export const decodeResponse = (encoded: string): string => Buffer.from(encoded, 'base64').toString('utf8');
