import { createHash, timingSafeEqual, verify, X509Certificate, type KeyObject } from 'node:crypto';
import { C14nCanonicalization, ExclusiveCanonicalization } from 'xml-crypto';
import { isAllowedDigestAlgorithm, isAllowedSignatureAlgorithm } from './algorithms.ts';
import { certificateFingerprint } from './policy.ts';
import { SamlRejection } from './rejection.ts';
import { attr, childElements, NS, shapeProblem } from './xml.ts';

/**
 * XML signature verification for SAML messages, in the narrow shape SAML core §5.4 allows: an
 * enveloped signature that is a direct child of the element it signs, with exactly one Reference
 * to that element's ID, the enveloped-signature transform and at most exclusive (or inclusive)
 * canonicalization, algorithms from the allow-lists, verified with the pinned certificates only.
 *
 * It works on the document the preflight already parsed, so the element that is verified is the
 * very element whose contents the broker then reads: no second parse, no XPath lookup by ID that
 * a wrapped copy could answer. Canonicalization is xml-crypto's (`ExclusiveCanonicalization`,
 * `C14nCanonicalization`); digests and signatures are node:crypto's. Everything else xml-crypto's
 * generic `checkSignature` does (parse the document again, find the reference with XPath scans,
 * clone the element) is what made it cost milliseconds per response.
 */

const EXC_C14N = 'http://www.w3.org/2001/10/xml-exc-c14n#';
const C14N = 'http://www.w3.org/TR/2001/REC-xml-c14n-20010315';
const ENVELOPED = 'http://www.w3.org/2000/09/xmldsig#enveloped-signature';

/** Signature algorithm URI to node:crypto's digest name and key type. */
const SIGNATURE_METHODS: Record<string, { hash: string; keyType: 'rsa' | 'ec' }> = {
  'http://www.w3.org/2000/09/xmldsig#rsa-sha1': { hash: 'sha1', keyType: 'rsa' },
  'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256': { hash: 'sha256', keyType: 'rsa' },
  'http://www.w3.org/2001/04/xmldsig-more#rsa-sha384': { hash: 'sha384', keyType: 'rsa' },
  'http://www.w3.org/2001/04/xmldsig-more#rsa-sha512': { hash: 'sha512', keyType: 'rsa' },
  'http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256': { hash: 'sha256', keyType: 'ec' },
  'http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384': { hash: 'sha384', keyType: 'ec' },
  'http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512': { hash: 'sha512', keyType: 'ec' },
};
const DIGEST_METHODS: Record<string, string> = {
  'http://www.w3.org/2000/09/xmldsig#sha1': 'sha1',
  'http://www.w3.org/2001/04/xmlenc#sha256': 'sha256',
  'http://www.w3.org/2001/04/xmldsig-more#sha384': 'sha384',
  'http://www.w3.org/2001/04/xmlenc#sha512': 'sha512',
};
/** The prefixes xml-crypto assumes when a prefixed node has no namespace (as its SignedXml does). */
const DEFAULT_NS_FOR_PREFIX = { ds: NS.ds };

/** A pinned IdP certificate, ready to verify with. */
export interface TrustedKey {
  /** SHA-256 of the certificate's DER, lowercase hex (as in diagnostics). */
  fingerprint: string;
  key: KeyObject;
}

/** Turn pinned certificates (PEM or bare base64 DER) into verification keys, once per connection. */
export function trustedKeys(certificates: readonly string[]): TrustedKey[] {
  return certificates.map((certificate) => {
    const x509 = new X509Certificate(certificate.includes('BEGIN CERTIFICATE') ? certificate : Buffer.from(certificate.replace(/\s+/g, ''), 'base64'));
    return { fingerprint: certificateFingerprint(certificate), key: x509.publicKey };
  });
}

export interface VerifiedSignature {
  /** Fingerprint of the pinned certificate whose key verified the signature. */
  fingerprint: string;
  signatureAlgorithm: string;
  digestAlgorithm: string;
}

const invalid = (reason: string, detail: Record<string, unknown> = {}): SamlRejection => new SamlRejection('saml.invalid_signature', `invalid signature: ${reason}`, { reason, ...detail });

/**
 * Verify the enveloped signature of `element` (a Response or an Assertion) against the pinned
 * keys. Throws SamlRejection `saml.invalid_signature` (with a precise reason) unless it holds.
 * `element` must carry its signature as a direct child; the caller decides whether a signature is
 * required there (the preflight checked placement and algorithms already; they are checked again
 * here so this function is safe on its own).
 */
export function verifyEnvelopedSignature(element: Element, keys: readonly TrustedKey[], options: { allowSha1: boolean }): VerifiedSignature {
  const id = attr(element, 'ID');
  if (!id) throw invalid('the signed element has no ID');
  const signatures = childElements(element, NS.ds, 'Signature');
  if (signatures.length !== 1) throw invalid(`the element carries ${signatures.length} signatures, expected one`);
  const signature = signatures[0] as Element;

  // Signature: SignedInfo, SignatureValue, then optional KeyInfo and Object (never used).
  const parts = childElements(signature);
  const signedInfo = parts[0];
  const signatureValueElement = parts[1];
  if (!signedInfo || signedInfo.namespaceURI !== NS.ds || signedInfo.localName !== 'SignedInfo') throw invalid('the Signature does not start with SignedInfo');
  if (!signatureValueElement || signatureValueElement.namespaceURI !== NS.ds || signatureValueElement.localName !== 'SignatureValue') throw invalid('the Signature has no SignatureValue after SignedInfo');
  if (childElements(signature, NS.ds, 'SignedInfo').length !== 1 || childElements(signature, NS.ds, 'SignatureValue').length !== 1) throw invalid('the Signature repeats SignedInfo or SignatureValue');

  // SignedInfo: CanonicalizationMethod, SignatureMethod, exactly one Reference.
  const info = childElements(signedInfo);
  const c14nMethod = info[0];
  const signatureMethod = info[1];
  const references = info.slice(2);
  if (!c14nMethod || c14nMethod.namespaceURI !== NS.ds || c14nMethod.localName !== 'CanonicalizationMethod') throw invalid('SignedInfo does not start with CanonicalizationMethod');
  if (!signatureMethod || signatureMethod.namespaceURI !== NS.ds || signatureMethod.localName !== 'SignatureMethod') throw invalid('SignedInfo has no SignatureMethod after CanonicalizationMethod');
  if (references.length !== 1) throw invalid(`SignedInfo holds ${references.length} references, expected one`);
  const reference = references[0] as Element;
  if (reference.namespaceURI !== NS.ds || reference.localName !== 'Reference') throw invalid('SignedInfo holds something other than a Reference');

  const c14nAlgorithm = attr(c14nMethod, 'Algorithm') ?? '';
  if (c14nAlgorithm !== EXC_C14N && c14nAlgorithm !== C14N) throw invalid(`canonicalization ${c14nAlgorithm || '(none)'} is not allowed`, { algorithm: c14nAlgorithm });
  const signatureAlgorithm = attr(signatureMethod, 'Algorithm') ?? '';
  const method = SIGNATURE_METHODS[signatureAlgorithm];
  if (!method || !isAllowedSignatureAlgorithm(signatureAlgorithm, options.allowSha1)) {
    throw new SamlRejection('saml.signature_algorithm_forbidden', `signature algorithm ${signatureAlgorithm || '(none)'} is not allowed`, { algorithm: signatureAlgorithm });
  }

  // The Reference: same-document, to this element, by its ID.
  if (attr(reference, 'URI') !== `#${id}`) throw invalid('the Reference does not point at the signed element', { referenceUri: attr(reference, 'URI') });
  const referenceParts = childElements(reference);
  let position = 0;
  const transformsElement = referenceParts[0]?.localName === 'Transforms' && referenceParts[0].namespaceURI === NS.ds ? referenceParts[position++] : undefined;
  const digestMethod = referenceParts[position++];
  const digestValueElement = referenceParts[position++];
  if (!digestMethod || digestMethod.namespaceURI !== NS.ds || digestMethod.localName !== 'DigestMethod') throw invalid('the Reference has no DigestMethod');
  if (!digestValueElement || digestValueElement.namespaceURI !== NS.ds || digestValueElement.localName !== 'DigestValue') throw invalid('the Reference has no DigestValue');
  if (position !== referenceParts.length) throw invalid('the Reference holds unexpected elements');
  const digestAlgorithm = attr(digestMethod, 'Algorithm') ?? '';
  const digestHash = DIGEST_METHODS[digestAlgorithm];
  if (!digestHash || !isAllowedDigestAlgorithm(digestAlgorithm, options.allowSha1)) {
    throw new SamlRejection('saml.digest_algorithm_forbidden', `digest algorithm ${digestAlgorithm || '(none)'} is not allowed`, { algorithm: digestAlgorithm });
  }

  // Transforms: enveloped-signature, then optionally one canonicalization (SAML core §5.4.4).
  const transforms = transformsElement ? childElements(transformsElement) : [];
  if (transforms.some((t) => t.namespaceURI !== NS.ds || t.localName !== 'Transform')) throw invalid('Transforms holds something other than Transform');
  const transformAlgorithms = transforms.map((t) => attr(t, 'Algorithm') ?? '');
  if (transformAlgorithms[0] !== ENVELOPED || transformAlgorithms.length > 2 || (transformAlgorithms.length === 2 && transformAlgorithms[1] !== EXC_C14N && transformAlgorithms[1] !== C14N)) {
    throw invalid(`transforms ${transformAlgorithms.join(', ') || '(none)'} are not allowed (enveloped-signature, then exclusive canonicalization)`, { transforms: transformAlgorithms });
  }
  // Without a canonicalization transform the node-set becomes octets by inclusive C14N 1.0.
  const referenceC14n = transformAlgorithms[1] ?? C14N;

  // One walk of the document: nothing in it that canonicalization renders unfaithfully (see
  // shapeProblem), and the ID names this element and no other (ID, Id or id): a second element
  // with it is a wrapping attempt.
  let occurrences = 0;
  const root = element.ownerDocument.documentElement;
  const problem = root
    ? shapeProblem(root, {
        onElement: (el) => {
          if (el.getAttribute('ID') === id || el.getAttribute('Id') === id || el.getAttribute('id') === id) occurrences++;
        },
      })
    : undefined;
  if (problem) throw invalid(problem.message);
  if (occurrences !== 1) throw invalid('the signed ID is not unique in the document', { occurrences });

  // First the signature over the canonical SignedInfo, with each pinned key of the right type:
  // it is small, so a forged response (anyone can post one) is refused before the costly part,
  // canonicalizing and digesting the whole signed element.
  const canonicalSignedInfo = Buffer.from(canonicalize(signedInfo, c14nAlgorithm, prefixList(c14nMethod)), 'utf8');
  const signatureValue = base64Value(signatureValueElement, 'SignatureValue');
  const signer = keys.find((trusted) => {
    if (trusted.key.asymmetricKeyType !== method.keyType) return false;
    return method.keyType === 'ec'
      ? verify(method.hash, canonicalSignedInfo, { key: trusted.key, dsaEncoding: 'ieee-p1363' }, signatureValue)
      : verify(method.hash, canonicalSignedInfo, trusted.key, signatureValue);
  });
  if (!signer) throw invalid('the signature was not made with a pinned certificate of this connection');

  // Then the digest SignedInfo names must be the element's, without its signature (the
  // enveloped-signature transform): the Signature is taken out for the canonicalization and put
  // back where it was.
  const expectedDigest = base64Value(digestValueElement, 'DigestValue');
  const next = signature.nextSibling;
  element.removeChild(signature);
  let canonicalElement: string;
  try {
    canonicalElement = canonicalize(element, referenceC14n, prefixList(transforms[1]));
  } finally {
    element.insertBefore(signature, next);
  }
  const digest = createHash(digestHash).update(canonicalElement, 'utf8').digest();
  if (digest.length !== expectedDigest.length || !timingSafeEqual(digest, expectedDigest)) throw invalid('the digest does not match the signed element (it was changed after signing)');
  return { fingerprint: signer.fingerprint, signatureAlgorithm, digestAlgorithm };
}

function base64Value(el: Element, name: string): Buffer {
  const value = (el.textContent ?? '').replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(value)) throw invalid(`${name} is not base64`);
  return Buffer.from(value, 'base64');
}

/** The InclusiveNamespaces PrefixList of an exclusive canonicalization method or transform. */
function prefixList(method: Element | undefined): string[] {
  const inclusive = method ? childElements(method, EXC_C14N, 'InclusiveNamespaces')[0] : undefined;
  return (attr(inclusive, 'PrefixList') ?? '').split(/\s+/).filter((p) => p.length > 0);
}

/**
 * Canonical form of `el` in its document context. Exclusive C14N renders the namespaces the
 * subtree uses (plus a PrefixList's, resolved from the ancestors); inclusive C14N renders every
 * namespace in scope. xml-crypto writes PrefixList declarations onto the element; they are taken
 * off again so the document is left as it was.
 */
function canonicalize(el: Element, algorithm: string, inclusivePrefixes: string[]): string {
  const ancestorNamespaces = namespacesInScope(el);
  if (algorithm === C14N) return new C14nCanonicalization().process(el, { ancestorNamespaces, defaultNsForPrefix: DEFAULT_NS_FOR_PREFIX });
  const added = inclusivePrefixes.filter((prefix) => prefix !== '' && !el.hasAttribute(`xmlns:${prefix}`) && ancestorNamespaces.some((ns) => ns.prefix === prefix));
  try {
    return new ExclusiveCanonicalization().process(el, { inclusiveNamespacesPrefixList: inclusivePrefixes, ancestorNamespaces, defaultNsForPrefix: DEFAULT_NS_FOR_PREFIX });
  } finally {
    for (const prefix of added) el.removeAttribute(`xmlns:${prefix}`);
  }
}

/**
 * The namespace declarations in scope from the ancestors of `el`, innermost binding per prefix
 * ('' for the default namespace), without undeclarations, the prefixes `el` declares itself and
 * its own prefix: what xml-crypto's findAncestorNs hands its canonicalizers.
 */
function namespacesInScope(el: Element): Array<{ prefix: string; namespaceURI: string }> {
  const skip = new Set<string>([el.prefix ?? '']);
  for (let i = 0; i < el.attributes.length; i++) {
    const name = el.attributes.item(i)?.nodeName ?? '';
    if (name === 'xmlns' || name.startsWith('xmlns:')) skip.add(name.slice(6));
  }
  const seen = new Set<string>();
  const out: Array<{ prefix: string; namespaceURI: string }> = [];
  for (let node = el.parentNode; node && node.nodeType === 1; node = node.parentNode) {
    const ancestor = node as Element;
    for (let i = 0; i < ancestor.attributes.length; i++) {
      const a = ancestor.attributes.item(i);
      if (!a || (a.nodeName !== 'xmlns' && !a.nodeName.startsWith('xmlns:'))) continue;
      const prefix = a.nodeName.slice(6);
      if (seen.has(prefix)) continue;
      seen.add(prefix);
      if (a.value !== '' && !skip.has(prefix)) out.push({ prefix, namespaceURI: a.value });
    }
  }
  return out;
}
