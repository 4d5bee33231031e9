// What a response must not look like, whatever its signatures: the review findings of the
// broker's own response pipeline, each reproduced through createSamlServiceProvider on a memory
// store with a real pending request, responses signed with the pinned IdP key (idp-a), and
// assertions encrypted to the SP's published certificate (which anyone can do).
import { describe, expect, it } from 'vitest';
import { createMemoryStore } from '@broker/store';
import { buildSamlResponse, fixtureKeyPair, type SamlResponseOptions } from '@broker/testing';
import { resolveIdpSettings } from './connection-settings.ts';
import { preflight } from './preflight.ts';
import { responsePolicy } from './policy.ts';
import { SamlRejection } from './rejection.ts';
import { createSamlServiceProvider, type ValidatedAssertion } from './service-provider.ts';
import { BROKER_ISSUER, acsPost, interopConnection, spEndpoints, startLogin } from './interop/support.ts';

const IDP = 'https://idp.shape.test/metadata';
const IDP_KEY = fixtureKeyPair('idp-a');
const SP_ENCRYPTION = fixtureKeyPair('sp-encryption');
const CBC = 'http://www.w3.org/2001/04/xmlenc#aes256-cbc';
const GCM = 'http://www.w3.org/2009/xmlenc11#aes256-gcm';

async function setup(options: { encrypted?: boolean } = {}) {
  const store = createMemoryStore();
  const sp = createSamlServiceProvider({ issuer: BROKER_ISSUER, store });
  const connection = interopConnection({ idpEntityId: IDP, ...options });
  const { requestId } = await startLogin(sp, connection);
  const { spEntityId, acsUrl } = spEndpoints(connection);
  const build = (extra: Partial<SamlResponseOptions> = {}) =>
    buildSamlResponse({ issuer: IDP, acsUrl, audience: spEntityId, inResponseTo: requestId, nameId: 'mallory@acme.test', signing: { key: IDP_KEY }, sign: 'assertion', attributes: { email: 'mallory@acme.test' }, ...extra });
  const post = (xml: string): Promise<ValidatedAssertion> => {
    const req = acsPost(Buffer.from(xml, 'utf8').toString('base64'));
    return sp.validateResponse(req, connection, { expectedRequestId: requestId });
  };
  return { build, post };
}

const refusal = async (promise: Promise<unknown>): Promise<SamlRejection> => {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof SamlRejection)) throw new Error(`expected a SamlRejection, got ${String(error)}`);
  return error;
};

describe('encrypted assertions: what the allow-list checks is what gets decrypted', () => {
  it('(baseline) an AES-256-CBC EncryptedAssertion is refused by the algorithm allow-list', async () => {
    const t = await setup({ encrypted: true });
    const built = await t.build({ encryption: { certificatePem: SP_ENCRYPTION.certificatePem, dataAlgorithm: 'aes256-cbc' } });
    expect((await refusal(t.post(built.xml))).code).toBe('saml.encryption_algorithm_forbidden');
  });

  it('a decoy EncryptionMethod in another namespace before an xenc one naming GCM does not get CBC decrypted', async () => {
    const t = await setup({ encrypted: true });
    const built = await t.build({ encryption: { certificatePem: SP_ENCRYPTION.certificatePem, dataAlgorithm: 'aes256-cbc' } });
    const method = /<(\w+:)?EncryptionMethod Algorithm="http:\/\/www\.w3\.org\/2001\/04\/xmlenc#aes256-cbc"\s*\/?>(<\/\1?EncryptionMethod>)?/.exec(built.xml);
    expect(method).not.toBeNull();
    const prefix = method?.[1] ?? '';
    // xml-encryption finds EncryptionMethod by local name: it would take the decoy's CBC.
    const forged = built.xml.replace(method?.[0] ?? '', `<x:EncryptionMethod xmlns:x="urn:x" Algorithm="${CBC}"/><${prefix}EncryptionMethod Algorithm="${GCM}"/>`);
    const rejection = await refusal(t.post(forged));
    expect(rejection.code).toBe('saml.encryption_malformed');
    expect(rejection.message).toMatch(/outside XML Encryption and XML Signature \(EncryptionMethod\)/);
  });

  it('an EncryptionMethod of the XML Signature namespace (the right local name, the wrong namespace) is refused too', async () => {
    const t = await setup({ encrypted: true });
    const built = await t.build({ encryption: { certificatePem: SP_ENCRYPTION.certificatePem } });
    const forged = built.xml.replace(/<((\w+):)?EncryptionMethod Algorithm="http:\/\/www\.w3\.org\/2009\/xmlenc11#aes256-gcm"/, (whole) => `<ds:EncryptionMethod xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Algorithm="${CBC}"/>${whole}`);
    expect(forged).not.toBe(built.xml);
    expect((await refusal(t.post(forged))).code).toBe('saml.encryption_malformed');
  });

  it('(control) the untouched GCM assertion signs in', async () => {
    const t = await setup({ encrypted: true });
    const built = await t.build({ encryption: { certificatePem: SP_ENCRYPTION.certificatePem } });
    expect((await t.post(built.xml)).nameId).toBe('mallory@acme.test');
  });
});

describe('characters XML does not allow', () => {
  it('a lone surrogate standing in for a signed U+FFFD (both digest as EF BF BD) is refused', async () => {
    const t = await setup();
    const built = await t.build({ attributes: { email: 'mallory@acme.test', givenName: 'Mal\uFFFDory' } });
    expect((await t.post(built.xml)).attributes['givenName']).toBe('Mal\uFFFDory');
    const t2 = await setup();
    const built2 = await t2.build({ attributes: { email: 'mallory@acme.test', givenName: 'Mal\uFFFDory' } });
    const forged = built2.xml.replace('Mal\uFFFDory', 'Mal&#xD800;ory');
    expect(forged).not.toBe(built2.xml);
    const rejection = await refusal(t2.post(forged));
    expect(rejection.code).toBe('saml.malformed');
    expect(rejection.message).toMatch(/a character XML does not allow/);
  });

  it('a NUL character reference in the NameID is refused', async () => {
    const t = await setup();
    const built = await t.build();
    const forged = built.xml.replace('>mallory@acme.test</saml:NameID>', '>mallory@acme.test&#0;</saml:NameID>');
    expect(forged).not.toBe(built.xml);
    expect((await refusal(t.post(forged))).code).toBe('saml.malformed');
  });
});

describe('bounded work before any signature check', () => {
  const connection = interopConnection({ idpEntityId: IDP });
  const policy = responsePolicy(BROKER_ISSUER, connection, resolveIdpSettings(connection));
  const SIGNATURE_OPEN = '<d:Signature><d:SignedInfo><d:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/></d:SignedInfo>';
  const response = (inner: string, inStatus = '') =>
    Buffer.from(
      `<p:Response xmlns:p="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:d="http://www.w3.org/2000/09/xmldsig#"><p:Status><p:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/>${inStatus}</p:Status><a:Assertion xmlns:a="urn:oasis:names:tc:SAML:2.0:assertion" ID="_a">${inner}</a:Assertion></p:Response>`,
    ).toString('base64');
  const codeOf = (encoded: string): string => {
    try {
      preflight(encoded, policy);
    } catch (error) {
      if (error instanceof SamlRejection) return error.code;
      throw error;
    }
    return '(accepted)';
  };

  it('nested signatures (each certificate inside was fingerprinted once per signature around it) are refused as misplaced', () => {
    const nested = response(`${SIGNATURE_OPEN.repeat(37)}${'<d:X509Certificate/>'.repeat(4_000)}${'</d:Signature>'.repeat(37)}`);
    expect(nested.length).toBeLessThan(256 * 1024);
    expect(codeOf(nested)).toBe('saml.signature_misplaced');
  });

  it('two signatures on one element, and a signature inside the Status, are refused as misplaced', () => {
    const signature = `${SIGNATURE_OPEN}<d:SignatureValue>AA==</d:SignatureValue></d:Signature>`;
    expect(codeOf(response(`${signature}${signature}`))).toBe('saml.signature_misplaced');
    expect(codeOf(response('', signature))).toBe('saml.signature_misplaced');
    // (control) one signature on the assertion passes this check and fails later for what it is.
    expect(codeOf(response(signature))).not.toBe('saml.signature_misplaced');
  });

  it('more than 10 certificates in one KeyInfo are refused', () => {
    const certificates = '<d:X509Certificate>AA==</d:X509Certificate>'.repeat(11);
    expect(codeOf(response(`${SIGNATURE_OPEN}<d:KeyInfo><d:X509Data>${certificates}</d:X509Data></d:KeyInfo></d:Signature>`))).toBe('saml.malformed');
  });

  it('deep nesting hidden from the depth scan by a > inside attribute values is refused as too deep', () => {
    // <x y="/>"> looked self-closing to the first scan: nesting of any depth passed it, and
    // 12,000 levels then overflowed the parser's and the canonicalizer's stacks.
    const trick = response(`${'<x y="/>">'.repeat(2_000)}${'</x>'.repeat(2_000)}`);
    expect(codeOf(trick)).toBe('saml.too_deep');
    // And the scan's other tricks: a > in a comment, a CDATA section, a processing instruction, a
    // single-quoted value; an end tag with nothing open.
    expect(codeOf(response(`${'<x y=\'a>b\'><!-- > --><![CDATA[ </x> ]]>'.repeat(50)}${'</x>'.repeat(50)}`))).toBe('saml.too_deep');
    expect(codeOf(response(`</x></x>${'<x>'.repeat(45)}${'</x>'.repeat(45)}`))).toBe('saml.too_deep');
    // An unquoted value with a quote in it (xmldom takes b=x' with a warning): the quote opens
    // nothing, and the nest after it is counted; a start tag the scan cannot end is refused.
    expect(codeOf(response(`<a:Subject b=x'>${'<x>'.repeat(100)}${'</x>'.repeat(100)}<y c='>'/></a:Subject>`))).toBe('saml.too_deep');
    expect(codeOf(response(`<a:Subject b='never closed>${'<x>'.repeat(100)}`))).toBe('saml.too_deep');
    // Other shapes xmldom takes with a warning and reads as a value: a quote with no =, and a
    // control character or U+0080 between = and the quote. The scan does not follow them.
    expect(codeOf(response(`${'<x><g b\'</x></x>\'/>'.repeat(3)}${'</x>'.repeat(3)}`))).toBe('saml.too_deep');
    for (const between of ['\f', '\u0001', '\u0080']) expect(codeOf(response(`<a:Subject b=${between}"v"/>`))).toBe('saml.too_deep');
    // (control) legitimate values with > and quotes nest as deep as they really do.
    expect(codeOf(response('<a:Subject x="a>b" y=\'c"d\' z = "e=f" w=\n"g"/>'))).not.toBe('saml.too_deep');
  });

  it('more elements or namespace declarations than any response needs are refused before canonicalization', () => {
    expect(codeOf(response('<a:X/>'.repeat(5_001)))).toBe('saml.malformed');
    expect(codeOf(response('<a:X/>'.repeat(4_000)))).not.toBe('saml.malformed');
    const declarations = Array.from({ length: 40 }, (_, i) => ` xmlns:n${i}="urn:n${i}"`).join('');
    expect(codeOf(response(`<a:X${declarations}/>`.repeat(7)))).toBe('saml.malformed');
    expect(codeOf(response(`<a:X${declarations}/>`.repeat(6)))).not.toBe('saml.malformed');
  });

  it('an element or attribute whose prefix no namespace declaration binds is refused (canonicalization could render it as bound)', () => {
    expect(codeOf(response('<ds:Signature/>'))).toBe('saml.malformed');
    expect(codeOf(response('<a:Subject q:x="1"/>'))).toBe('saml.malformed');
    // (control) xml: is bound by definition.
    expect(codeOf(response('<a:Subject xml:lang="en"/>'))).not.toBe('saml.malformed');
  });

  it('an element with more than 64 attributes (canonicalization is quadratic in them) is refused', () => {
    const attributes = Array.from({ length: 65 }, (_, i) => ` x${i}="v"`).join('');
    expect(codeOf(response(`<a:Subject${attributes}/>`))).toBe('saml.malformed');
    const fine = Array.from({ length: 60 }, (_, i) => ` x${i}="v"`).join('');
    expect(codeOf(response(`<a:Subject${fine}/>`))).toBe('saml.signature_missing');
  });
});
