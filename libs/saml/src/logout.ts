import { inflateRawSync } from 'node:zlib';
import { isAllowedDigestAlgorithm, isAllowedSignatureAlgorithm } from './algorithms.ts';
import { SamlRejection } from './rejection.ts';
import { attr, childElements, containsComment, exceedsDepth, firstChild, NS, parseXml, shapeProblem, text } from './xml.ts';

/** Largest LogoutRequest accepted, inflated or base64-decoded (they are a few KB at most). */
const MAX_LOGOUT_REQUEST_BYTES = 64 * 1024;

/** The HTTP-Redirect binding's parameters: decoded values, and the signed octets (Bindings 3.4.4.1). */
export interface RedirectLogoutMessage {
  samlRequest: string;
  relayState?: string | undefined;
  sigAlg?: string | undefined;
  signature?: string | undefined;
  /** `SAMLRequest=..[&RelayState=..]&SigAlg=..`, exactly as received (what the IdP signed). */
  signedOctets: string;
}

const REDIRECT_PARAMETERS = new Set(['SAMLRequest', 'RelayState', 'SigAlg', 'Signature']);

/**
 * Read the Redirect binding's parameters from the raw query string, each at most once. The
 * signature covers the parameters as the IdP encoded them, so the signed octets are rebuilt from
 * the raw tokens, never re-encoded; a repeated parameter is refused rather than guessed at.
 */
export function parseRedirectQuery(rawQuery: string): RedirectLogoutMessage {
  const raw = new Map<string, string>();
  for (const token of rawQuery.split('&')) {
    if (!token) continue;
    const eq = token.indexOf('=');
    const name = eq < 0 ? token : token.slice(0, eq);
    if (!REDIRECT_PARAMETERS.has(name)) continue;
    if (raw.has(name)) throw new SamlRejection('saml.logout_invalid', `the query repeats ${name}`);
    raw.set(name, eq < 0 ? '' : token.slice(eq + 1));
  }
  const decode = (name: string): string | undefined => {
    const value = raw.get(name);
    if (value === undefined) return undefined;
    try {
      return decodeURIComponent(value.replace(/\+/g, ' '));
    } catch {
      throw new SamlRejection('saml.logout_invalid', `${name} is not URL-encoded`);
    }
  };
  const samlRequest = decode('SAMLRequest');
  if (!samlRequest) throw new SamlRejection('saml.logout_invalid', 'no SAMLRequest in the query');
  const signed = ['SAMLRequest', 'RelayState', 'SigAlg'].filter((name) => raw.has(name)).map((name) => `${name}=${raw.get(name) ?? ''}`);
  return { samlRequest, relayState: decode('RelayState'), sigAlg: decode('SigAlg'), signature: decode('Signature'), signedOctets: signed.join('&') };
}

/** The XML of a Redirect-binding SAMLRequest (base64, DEFLATE without header), size-capped. */
export function inflateRedirectRequest(samlRequest: string): string {
  try {
    const deflated = Buffer.from(samlRequest, 'base64');
    return inflateRawSync(deflated, { maxOutputLength: MAX_LOGOUT_REQUEST_BYTES }).toString('utf8');
  } catch {
    throw new SamlRejection('saml.logout_invalid', 'the SAMLRequest is not base64 DEFLATE data, or too large');
  }
}

/** The XML of a POST-binding SAMLRequest (plain base64), size-capped. */
export function decodePostRequest(samlRequest: string): string {
  const xml = Buffer.from(samlRequest, 'base64').toString('utf8');
  if (xml.length === 0 || xml.length > MAX_LOGOUT_REQUEST_BYTES) throw new SamlRejection('saml.logout_invalid', 'the SAMLRequest is empty or too large');
  return xml;
}

/** What the checks need to know about the connection. */
export interface LogoutPolicy {
  idpEntityId: string;
  /** Our SLO URL: a Destination, when present, must be it. */
  sloUrl: string;
  allowSha1: boolean;
  clockSkewMs: number;
  /** How old (IssueInstant) a LogoutRequest may be. */
  maxAgeMs: number;
}

/** The fields of a LogoutRequest that passed the structural checks. */
export interface CheckedLogoutRequest {
  id: string;
  nameId: string;
  sessionIndex?: string | undefined;
  /** When the request stops being valid (epoch ms): NotOnOrAfter, or IssueInstant + max age. */
  validUntilMs: number;
}

/**
 * Elements a LogoutRequest may have. A real one has about 20 (Issuer, NameID, SessionIndex and an
 * enveloped signature's 14); node-saml's signature check runs XPath over the whole document,
 * which costs seconds for tens of thousands of elements before any key is tried, so a bigger
 * request is refused before node-saml, or even our parser, sees it.
 */
const MAX_LOGOUT_ELEMENTS = 64;

/**
 * The checks node-saml does not do on a LogoutRequest (it checks the signature, the Issuer and
 * NotOnOrAfter, and nothing else): no DOCTYPE, the root a LogoutRequest, an ID, the Issuer the
 * IdP's, Destination (if present) our SLO URL, IssueInstant recent, NotOnOrAfter not passed, a
 * NameID without comments, and for the POST binding an enveloped signature with allowed algorithms.
 */
export function checkLogoutRequest(xml: string, policy: LogoutPolicy, nowMs: number, binding: 'redirect' | 'post'): CheckedLogoutRequest {
  if (/<!DOCTYPE/i.test(xml) || /<!ENTITY/i.test(xml)) throw new SamlRejection('saml.logout_invalid', 'the LogoutRequest carries a DOCTYPE');
  if (exceedsDepth(xml, 32)) throw new SamlRejection('saml.logout_invalid', 'the LogoutRequest is nested too deeply');
  // Each element needs a '<' (two, unless empty): counting them is a linear scan of the text.
  if ((xml.match(/</g)?.length ?? 0) > 4 * MAX_LOGOUT_ELEMENTS) throw new SamlRejection('saml.logout_invalid', `the LogoutRequest has more than ${MAX_LOGOUT_ELEMENTS} elements`);
  let doc: Document;
  try {
    doc = parseXml(xml);
  } catch (error) {
    throw new SamlRejection('saml.logout_invalid', 'the LogoutRequest is not well-formed XML', { reason: error instanceof Error ? error.message : String(error) });
  }
  const root = doc.documentElement;
  if (!root || root.namespaceURI !== NS.samlp || root.localName !== 'LogoutRequest') {
    throw new SamlRejection('saml.logout_invalid', 'the SAMLRequest is not a LogoutRequest', { element: root?.localName });
  }
  // The document rules of a SAML response (no processing instruction, no character XML forbids,
  // at most 64 attributes per element), and the element cap.
  const problem = shapeProblem(root, { maxElements: MAX_LOGOUT_ELEMENTS });
  if (problem) throw new SamlRejection('saml.logout_invalid', problem.message, { problem: problem.code });
  const id = attr(root, 'ID');
  if (!id) throw new SamlRejection('saml.logout_invalid', 'the LogoutRequest has no ID');

  const signatures = childElements(root, NS.ds, 'Signature');
  if (binding === 'post') {
    const signature = signatures[0];
    if (!signature || signatures.length > 1) throw new SamlRejection('saml.logout_unsigned', 'the LogoutRequest is not signed');
    const signedInfo = firstChild(signature, NS.ds, 'SignedInfo');
    const signatureMethod = attr(signedInfo && firstChild(signedInfo, NS.ds, 'SignatureMethod'), 'Algorithm') ?? '';
    const digestMethods = (signedInfo ? Array.from(signedInfo.getElementsByTagNameNS(NS.ds, 'DigestMethod')) : []).map((el) => attr(el, 'Algorithm') ?? '');
    if (!isAllowedSignatureAlgorithm(signatureMethod, policy.allowSha1) || digestMethods.some((uri) => !isAllowedDigestAlgorithm(uri, policy.allowSha1))) {
      throw new SamlRejection('saml.logout_algorithm_forbidden', 'the LogoutRequest is signed with an algorithm the connection does not allow', { signatureAlgorithm: signatureMethod, digestAlgorithms: digestMethods });
    }
  }

  const issuer = text(firstChild(root, NS.saml, 'Issuer'));
  if (issuer !== policy.idpEntityId) throw new SamlRejection('saml.logout_issuer_mismatch', 'the LogoutRequest is not from the IdP of this connection', { expectedIssuer: policy.idpEntityId, receivedIssuer: issuer });
  const destination = attr(root, 'Destination');
  if (destination !== undefined && destination !== policy.sloUrl) {
    throw new SamlRejection('saml.logout_destination_mismatch', 'the LogoutRequest is addressed to another URL', { expectedDestination: policy.sloUrl, receivedDestination: destination });
  }

  const issued = Date.parse(attr(root, 'IssueInstant') ?? '');
  if (Number.isNaN(issued)) throw new SamlRejection('saml.logout_invalid', 'the LogoutRequest has no valid IssueInstant');
  if (issued - policy.clockSkewMs > nowMs) throw new SamlRejection('saml.logout_expired', 'the LogoutRequest was issued in the future', { clockDifferenceSeconds: Math.round((issued - nowMs) / 1000) });
  let validUntilMs = issued + policy.maxAgeMs + policy.clockSkewMs;
  const notOnOrAfterText = attr(root, 'NotOnOrAfter');
  if (notOnOrAfterText !== undefined) {
    const notOnOrAfter = Date.parse(notOnOrAfterText);
    if (Number.isNaN(notOnOrAfter)) throw new SamlRejection('saml.logout_invalid', 'the LogoutRequest has an invalid NotOnOrAfter');
    validUntilMs = Math.min(validUntilMs, notOnOrAfter + policy.clockSkewMs);
  }
  if (nowMs >= validUntilMs) throw new SamlRejection('saml.logout_expired', 'the LogoutRequest has expired', { clockDifferenceSeconds: Math.round((issued - nowMs) / 1000) });

  const nameIds = childElements(root, NS.saml, 'NameID');
  const nameIdElement = nameIds[0];
  if (nameIds.length !== 1 || !nameIdElement) {
    // An EncryptedID is not supported: the broker's connections receive plain NameIDs.
    throw new SamlRejection('saml.logout_invalid', 'the LogoutRequest does not carry exactly one plain NameID');
  }
  if (containsComment(nameIdElement)) throw new SamlRejection('saml.logout_invalid', 'the NameID contains an XML comment');
  const nameId = text(nameIdElement);
  if (!nameId) throw new SamlRejection('saml.logout_invalid', 'the NameID is empty');
  const sessionIndex = text(firstChild(root, NS.samlp, 'SessionIndex')) || undefined;
  return { id, nameId, sessionIndex, validUntilMs };
}

/** The Redirect binding's signature must be there, with an allowed algorithm. */
export function checkRedirectSignaturePresent(message: RedirectLogoutMessage, allowSha1: boolean): void {
  if (!message.signature || !message.sigAlg) throw new SamlRejection('saml.logout_unsigned', 'the LogoutRequest is not signed (no Signature and SigAlg)');
  if (!isAllowedSignatureAlgorithm(message.sigAlg, allowSha1) || !/#rsa-sha/.test(message.sigAlg)) {
    throw new SamlRejection('saml.logout_algorithm_forbidden', 'the LogoutRequest is signed with an algorithm the connection does not allow', { signatureAlgorithm: message.sigAlg });
  }
}
