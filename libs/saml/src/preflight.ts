import { isAllowedDataEncryption, isAllowedDigestAlgorithm, isAllowedKeyTransport, isAllowedOaepDigest, isAllowedSignatureAlgorithm, isSha1 } from './algorithms.ts';
import { certificateFingerprint, type ResponsePolicy } from './policy.ts';
import { SamlRejection } from './rejection.ts';
import { attr, childElements, containsComment, descendants, shapeProblem, exceedsDepth, firstChild, NS, parseXml, text } from './xml.ts';

/** What the unverified envelope says: kept for diagnostics and for the checks and signatures after it. */
export interface Envelope {
  xml: string;
  /** The parsed samlp:Response (the document the signatures are verified in). */
  root: Element;
  /** The plaintext assertion element (undefined when encrypted). */
  assertion?: Element | undefined;
  /** The EncryptedAssertion element (undefined when plaintext). */
  encryptedAssertion?: Element | undefined;
  responseSigned: boolean;
  assertionSigned: boolean;
  encrypted: boolean;
  destination?: string | undefined;
  issuer?: string | undefined;
  inResponseTo?: string | undefined;
  issueInstant?: string | undefined;
  /** Fingerprints of certificates carried in KeyInfo (never trusted; shown in diagnostics). */
  keyInfoFingerprints: string[];
  /** The same, per signature. */
  keyInfoBySignature: string[][];
  usedSha1: boolean;
}

const SUCCESS = 'urn:oasis:names:tc:SAML:2.0:status:Success';

/**
 * Every check that can run before signature validation, on the raw response: size, DOCTYPE,
 * nesting depth, one Response with exactly one (encrypted) Assertion as its child, allowed
 * algorithms, signature placement against the connection's demands, Destination and Issuer.
 * Cheap checks first; throws SamlRejection.
 */
export function preflight(encoded: string, policy: ResponsePolicy): Envelope {
  // Filled in once the envelope is read, so later rejections carry what it said.
  let known: Envelope | undefined;
  const reject = (code: string, message: string, detail: Record<string, unknown> = {}): SamlRejection => rejection(code, message, detail, known);
  if (encoded.length > policy.maxResponseBytes) throw reject('saml.response_too_large', `SAMLResponse is ${encoded.length} bytes, limit ${policy.maxResponseBytes}`);
  if (!/^[A-Za-z0-9+/=\r\n]+$/.test(encoded)) throw reject('saml.malformed', 'SAMLResponse is not base64');
  const xml = Buffer.from(encoded, 'base64').toString('utf8');
  if (!xml.trimStart().startsWith('<')) throw reject('saml.malformed', 'SAMLResponse is not XML');
  // Entity declarations are the door to XXE and expansion attacks; SAML never needs them.
  if (/<!DOCTYPE|<!ENTITY|<!ATTLIST|<!ELEMENT/i.test(xml)) throw reject('saml.doctype_forbidden', 'SAMLResponse contains a DOCTYPE or entity declaration');
  if (exceedsDepth(xml, policy.maxDepth)) throw reject('saml.too_deep', `SAMLResponse nests deeper than ${policy.maxDepth} elements`);

  let doc: Document;
  try {
    doc = parseXml(xml);
  } catch (error) {
    throw reject('saml.malformed', `SAMLResponse is not well-formed XML: ${(error as Error).message}`);
  }
  const root = doc.documentElement;
  if (!root || root.namespaceURI !== NS.samlp || root.localName !== 'Response') throw reject('saml.not_a_response', 'the document is not a samlp:Response');
  if (descendants(doc, NS.samlp, 'Response').length !== 1) throw reject('saml.multiple_responses', 'the document holds more than one Response');
  const problem = shapeProblem(root);
  if (problem) throw reject(problem.code, `SAMLResponse: ${problem.message}`);

  const envelope: Envelope = (known = {
    xml,
    root,
    responseSigned: false,
    assertionSigned: false,
    encrypted: false,
    destination: attr(root, 'Destination'),
    issuer: text(firstChild(root, NS.saml, 'Issuer')) || undefined,
    inResponseTo: attr(root, 'InResponseTo'),
    issueInstant: attr(root, 'IssueInstant'),
    keyInfoFingerprints: [],
    keyInfoBySignature: [],
    usedSha1: false,
  });

  const statusCode = attr(firstChild(firstChild(root, NS.samlp, 'Status') ?? root, NS.samlp, 'StatusCode'), 'Value');
  if (statusCode !== SUCCESS) throw reject('saml.idp_status_error', `the IdP answered with status ${statusCode ?? '(none)'}`, { status: statusCode });

  // Exactly one assertion, plain or encrypted, as a direct child of the Response. Every XML
  // signature wrapping variant needs a second assertion (or a moved one) somewhere.
  const plain = descendants(doc, NS.saml, 'Assertion');
  const encrypted = descendants(doc, NS.saml, 'EncryptedAssertion');
  if (plain.length + encrypted.length === 0) throw reject('saml.no_assertion', 'the Response carries no assertion');
  if (plain.length + encrypted.length > 1) throw reject('saml.multiple_assertions', `the Response carries ${plain.length + encrypted.length} assertions`);
  const assertion = plain[0] ?? encrypted[0];
  if (!assertion || assertion.parentNode !== root) throw reject('saml.assertion_misplaced', 'the assertion is not a direct child of the Response');
  envelope.encrypted = encrypted.length === 1;
  if (envelope.encrypted) envelope.encryptedAssertion = assertion;
  else envelope.assertion = assertion;

  if (envelope.encrypted) {
    checkEncryption(assertion, policy);
  } else if (policy.requireEncryptedAssertions) {
    throw reject('saml.encryption_required', 'the connection requires encrypted assertions and this one is plaintext');
  }

  checkSignatures(root, envelope.encrypted ? undefined : assertion, policy, envelope);

  if (envelope.destination === undefined) {
    if (envelope.responseSigned) throw reject('saml.destination_missing', 'a signed Response must name its Destination', { expectedDestination: policy.acsUrl });
  } else if (envelope.destination !== policy.acsUrl) {
    throw reject('saml.destination_mismatch', 'the Response is addressed to another endpoint', { expectedDestination: policy.acsUrl, receivedDestination: envelope.destination });
  }
  if (envelope.issuer !== undefined && envelope.issuer !== policy.idpEntityId) {
    throw reject('saml.issuer_mismatch', 'the Response Issuer is not the IdP of this connection', { expectedIssuer: policy.idpEntityId, receivedIssuer: envelope.issuer });
  }
  if (!envelope.encrypted) checkIdentityComments(assertion, envelope);
  return envelope;
}

/**
 * xml-crypto canonicalization drops comments, so "al<!---->ice@evil" keeps a valid signature
 * while a naive text read sees only "al": refuse comments where identity lives.
 */
export function checkIdentityComments(assertion: Element, envelope: Envelope): void {
  const subject = firstChild(assertion, NS.saml, 'Subject');
  // Every AttributeStatement: the assertion's reader takes attributes from all of them.
  const statements = childElements(assertion, NS.saml, 'AttributeStatement');
  if ((subject && containsComment(subject)) || statements.some((statement) => containsComment(statement))) {
    throw rejection('saml.comment_injection', 'a comment inside the Subject or the attributes', {}, envelope);
  }
}

/**
 * The algorithm allow-lists for the signatures inside a decrypted assertion, which the envelope
 * checks could not see.
 */
export function checkDecryptedSignatures(assertion: Element, policy: ResponsePolicy, envelope: Envelope): void {
  checkAlgorithms(placedSignatures(assertion, [assertion], envelope), policy, envelope);
  envelope.assertionSigned = isSignedBy(assertion);
  if (policy.wantAssertionsSigned && !envelope.assertionSigned) throw rejection('saml.assertion_unsigned', 'the connection requires a signed Assertion', {}, envelope);
  if (!envelope.responseSigned && !envelope.assertionSigned) throw rejection('saml.signature_missing', 'neither the Response nor the Assertion is signed', {}, envelope);
  checkKeyInfo(policy, envelope);
}

/**
 * The signatures of a document, which may only be direct children of the elements that can be
 * signed (the Response, the assertion), at most one each. A signature anywhere else signs nothing
 * the broker reads, and refusing it bounds the work per response (nested signatures made each
 * certificate inside them cost once per signature around it).
 */
function placedSignatures(scope: Element, signable: Element[], envelope: Envelope): Element[] {
  const own = signable.map((el) => childElements(el, NS.ds, 'Signature'));
  if (own.some((list) => list.length > 1)) throw rejection('saml.signature_misplaced', 'an element carries more than one signature', {}, envelope);
  const placed = own.flat();
  if (descendants(scope, NS.ds, 'Signature').length !== placed.length) throw rejection('saml.signature_misplaced', 'a signature is somewhere no signed element is', {}, envelope);
  return placed;
}

/** The most certificates a signature's KeyInfo may carry (a certificate and its chain). */
const MAX_KEYINFO_CERTIFICATES = 10;

/** Signature algorithms, digests and placement: which parts are signed, against what is demanded. */
function checkSignatures(root: Element, assertion: Element | undefined, policy: ResponsePolicy, envelope: Envelope): void {
  checkAlgorithms(placedSignatures(root, assertion ? [root, assertion] : [root], envelope), policy, envelope);
  envelope.responseSigned = isSignedBy(root);
  envelope.assertionSigned = assertion !== undefined && isSignedBy(assertion);

  if (!envelope.responseSigned && !envelope.assertionSigned && !envelope.encrypted) throw rejection('saml.signature_missing', 'neither the Response nor the Assertion is signed', {}, envelope);
  if (policy.wantResponseSigned && !envelope.responseSigned) throw rejection('saml.response_unsigned', 'the connection requires a signed Response', {}, envelope);
  // An encrypted assertion's own signature is checked after decryption (checkDecryptedSignatures).
  if (policy.wantAssertionsSigned && assertion !== undefined && !envelope.assertionSigned) throw rejection('saml.assertion_unsigned', 'the connection requires a signed Assertion', {}, envelope);
  checkKeyInfo(policy, envelope);
}

/**
 * A signature whose KeyInfo carries certificates, none of them pinned, was made with a key this
 * connection does not trust (typically a rotated IdP certificate). A KeyInfo with the pinned
 * certificate and its chain is fine. The certificates are never used to verify either way.
 */
function checkKeyInfo(policy: ResponsePolicy, envelope: Envelope): void {
  for (const fingerprints of envelope.keyInfoBySignature) {
    if (fingerprints.length > 0 && !fingerprints.some((fp) => policy.pinnedFingerprints.includes(fp))) {
      throw rejection('saml.certificate_untrusted', 'the response was signed with a certificate this connection does not trust', { receivedFingerprints: fingerprints }, envelope);
    }
  }
}

/** Signature and digest algorithms against the allow-lists; KeyInfo certificates noted. */
function checkAlgorithms(signatures: Element[], policy: ResponsePolicy, envelope: Envelope): void {
  for (const signature of signatures) {
    const signedInfo = firstChild(signature, NS.ds, 'SignedInfo');
    const method = attr(firstChild(signedInfo ?? signature, NS.ds, 'SignatureMethod'), 'Algorithm') ?? '';
    if (!isAllowedSignatureAlgorithm(method, policy.allowSha1)) throw rejection('saml.signature_algorithm_forbidden', `signature algorithm ${method || '(none)'} is not allowed`, { algorithm: method }, envelope);
    for (const reference of childElements(signedInfo ?? signature, NS.ds, 'Reference')) {
      const digest = attr(firstChild(reference, NS.ds, 'DigestMethod'), 'Algorithm') ?? '';
      if (!isAllowedDigestAlgorithm(digest, policy.allowSha1)) throw rejection('saml.digest_algorithm_forbidden', `digest algorithm ${digest || '(none)'} is not allowed`, { algorithm: digest }, envelope);
      if (isSha1(digest)) envelope.usedSha1 = true;
    }
    if (isSha1(method)) envelope.usedSha1 = true;
    // Certificates where XML-DSig puts them: KeyInfo/X509Data/X509Certificate.
    const certificates = childElements(firstChild(signature, NS.ds, 'KeyInfo') ?? signature, NS.ds, 'X509Data').flatMap((data) => childElements(data, NS.ds, 'X509Certificate'));
    if (certificates.length > MAX_KEYINFO_CERTIFICATES) throw rejection('saml.malformed', `a signature's KeyInfo carries more than ${MAX_KEYINFO_CERTIFICATES} certificates`, {}, envelope);
    const fingerprints = certificates.map((cert) => {
      try {
        return certificateFingerprint(text(cert));
      } catch {
        return '(unreadable certificate)';
      }
    });
    envelope.keyInfoFingerprints.push(...fingerprints);
    envelope.keyInfoBySignature.push(fingerprints);
  }
}

/** Is this element signed by a Signature that is its own child and references its ID? */
function isSignedBy(el: Element): boolean {
  const id = attr(el, 'ID');
  if (!id) return false;
  return childElements(el, NS.ds, 'Signature').some((signature) => {
    const references = childElements(firstChild(signature, NS.ds, 'SignedInfo') ?? signature, NS.ds, 'Reference');
    return references.length === 1 && attr(references[0], 'URI') === `#${id}`;
  });
}

/**
 * Where xml-encryption looks (it finds elements by local name, in any namespace), the elements
 * must be the ones the algorithm checks below see: in their own namespace, EncryptedData once and
 * a direct child, one EncryptionMethod per EncryptedData or EncryptedKey. Otherwise a decoy
 * (a foreign-namespace EncryptionMethod before the checked one) would have it decrypt with an
 * algorithm the allow-list refuses.
 */
const XENC11 = 'http://www.w3.org/2009/xmlenc11#';
const ENCRYPTION_NAMES: Record<string, string> = {
  EncryptedData: NS.xenc,
  EncryptedKey: NS.xenc,
  EncryptionMethod: NS.xenc,
  CipherData: NS.xenc,
  CipherValue: NS.xenc,
  CipherReference: NS.xenc,
  OAEPparams: NS.xenc,
  KeyInfo: NS.ds,
  RetrievalMethod: NS.ds,
  DigestMethod: NS.ds,
  MGF: XENC11,
};
function checkEncryptionShape(encryptedAssertion: Element): void {
  const malformed = (message: string) => new SamlRejection('saml.encryption_malformed', `the EncryptedAssertion ${message}`);
  const elements = Array.from(encryptedAssertion.getElementsByTagName('*'));
  for (const el of elements) {
    if (el.namespaceURI !== NS.xenc && el.namespaceURI !== NS.ds && el.namespaceURI !== XENC11) throw malformed(`holds an element outside XML Encryption and XML Signature (${el.localName})`);
    const expected = ENCRYPTION_NAMES[el.localName];
    if (expected !== undefined && el.namespaceURI !== expected) throw malformed(`holds ${el.localName} in the wrong namespace`);
    if (el.localName === 'CipherReference') throw malformed('refers to ciphertext elsewhere (CipherReference)');
  }
  const data = elements.filter((el) => el.localName === 'EncryptedData');
  if (data.length !== 1 || data[0]?.parentNode !== encryptedAssertion) throw malformed('must hold exactly one EncryptedData, as its child');
  for (const el of elements) {
    if (el.localName === 'EncryptionMethod' && !(el.parentNode && ['EncryptedData', 'EncryptedKey'].includes((el.parentNode as Element).localName))) throw malformed('holds an EncryptionMethod outside EncryptedData and EncryptedKey');
    if ((el.localName === 'EncryptedData' || el.localName === 'EncryptedKey') && childElements(el, NS.xenc, 'EncryptionMethod').length !== 1) throw malformed(`holds an ${el.localName} without exactly one EncryptionMethod`);
  }
}

function checkEncryption(encryptedAssertion: Element, policy: ResponsePolicy): void {
  if (!policy.canDecrypt) throw new SamlRejection('saml.decryption_unavailable', 'an encrypted assertion arrived but the connection has no decryption key');
  checkEncryptionShape(encryptedAssertion);
  const data = firstChild(encryptedAssertion, NS.xenc, 'EncryptedData');
  const dataAlgorithm = attr(firstChild(data ?? encryptedAssertion, NS.xenc, 'EncryptionMethod'), 'Algorithm') ?? '';
  if (!isAllowedDataEncryption(dataAlgorithm)) throw new SamlRejection('saml.encryption_algorithm_forbidden', `data encryption ${dataAlgorithm || '(none)'} is not allowed (AES-GCM only)`, { algorithm: dataAlgorithm });
  for (const key of descendants(encryptedAssertion, NS.xenc, 'EncryptedKey')) {
    const method = firstChild(key, NS.xenc, 'EncryptionMethod');
    const keyAlgorithm = attr(method, 'Algorithm') ?? '';
    if (!isAllowedKeyTransport(keyAlgorithm)) throw new SamlRejection('saml.encryption_algorithm_forbidden', `key transport ${keyAlgorithm || '(none)'} is not allowed (RSA-OAEP only)`, { algorithm: keyAlgorithm });
    const oaepDigest = attr(method && firstChild(method, NS.ds, 'DigestMethod'), 'Algorithm');
    if (!isAllowedOaepDigest(oaepDigest)) throw new SamlRejection('saml.encryption_algorithm_forbidden', `RSA-OAEP digest ${oaepDigest ?? ''} is not supported (use the default SHA-1 OAEP digest)`, { algorithm: oaepDigest });
  }
}

/** A rejection carrying what a support engineer needs from the envelope. */
export function rejection(code: string, message: string, detail: Record<string, unknown>, envelope?: Envelope): SamlRejection {
  return new SamlRejection(code, message, {
    ...(envelope?.destination !== undefined ? { receivedDestination: envelope.destination } : {}),
    ...(envelope?.issuer !== undefined ? { receivedIssuer: envelope.issuer } : {}),
    ...(envelope?.keyInfoFingerprints.length ? { receivedFingerprints: envelope.keyInfoFingerprints } : {}),
    ...detail,
  });
}
