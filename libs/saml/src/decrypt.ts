import { XMLSerializer } from '@xmldom/xmldom';
import { decrypt } from 'xml-encryption';
import { SamlRejection } from './rejection.ts';
import { exceedsDepth, NS, parseXml, shapeProblem } from './xml.ts';

/**
 * Decrypt an EncryptedAssertion with the connection's key (algorithms were checked against the
 * allow-list already), so the assertion's own signature algorithms, comments and conditions can be
 * checked and its signature verified (signature.ts) on the decrypted element itself.
 */
export async function decryptAssertion(encryptedAssertion: Element, privateKey: string, maxDepth: number): Promise<Element> {
  const encryptedData = Array.from(encryptedAssertion.getElementsByTagNameNS(NS.xenc, 'EncryptedData'))[0];
  if (!encryptedData) throw new SamlRejection('saml.malformed', 'the EncryptedAssertion has no EncryptedData');
  const xml = await new Promise<string>((resolve, reject) => {
    decrypt(new XMLSerializer().serializeToString(encryptedAssertion), { key: privateKey, disallowDecryptionWithInsecureAlgorithm: true, warnInsecureAlgorithm: false }, (error, result) =>
      error ? reject(new SamlRejection('saml.decryption_failed', `the assertion could not be decrypted: ${error.message}`)) : resolve(result),
    );
  });
  if (/<!DOCTYPE|<!ENTITY|<!ATTLIST|<!ELEMENT/i.test(xml)) throw new SamlRejection('saml.doctype_forbidden', 'the decrypted assertion contains a DOCTYPE');
  // Anyone can encrypt to the SP's published certificate: the plaintext gets the same depth limit.
  if (exceedsDepth(xml, maxDepth)) throw new SamlRejection('saml.too_deep', `the decrypted assertion nests deeper than ${maxDepth} elements`);
  let doc: Document;
  try {
    doc = parseXml(xml);
  } catch (error) {
    throw new SamlRejection('saml.malformed', `the decrypted assertion is not XML: ${(error as Error).message}`);
  }
  const assertion = doc.documentElement;
  if (!assertion || assertion.namespaceURI !== NS.saml || assertion.localName !== 'Assertion') throw new SamlRejection('saml.malformed', 'the decrypted content is not one saml:Assertion');
  const problem = shapeProblem(assertion);
  if (problem) throw new SamlRejection(problem.code, `the decrypted assertion: ${problem.message}`);
  // Signature wrapping hidden inside the ciphertext needs a second assertion there too.
  const count = doc.getElementsByTagNameNS(NS.saml, 'Assertion').length;
  if (count !== 1) throw new SamlRejection('saml.multiple_assertions', `the encrypted assertion holds ${count} assertions`);
  return assertion;
}
