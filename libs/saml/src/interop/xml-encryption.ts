/**
 * Test-only: XML Encryption of a response's Assertion, by hand with node:crypto, for the
 * algorithm combinations and layouts samlify cannot produce (samlify offers only
 * rsa-oaep-mgf1p with SHA-1 and always nests the EncryptedKey). Follows XML Encryption 1.1:
 * AES-GCM CipherValue = IV (12 bytes) || ciphertext || tag (16 bytes); AES-CBC = IV || ciphertext
 * (PKCS#7 padding); RSA-OAEP with the digest named by DigestMethod (MGF1 with the same hash, the
 * only combination node:crypto offers).
 */
import { constants, createCipheriv, publicEncrypt, randomBytes, type CipherGCM } from 'node:crypto';
import { TEST_KEYS, certificateBody } from './support.ts';

const XENC = 'http://www.w3.org/2001/04/xmlenc#';
const DS = 'http://www.w3.org/2000/09/xmldsig#';

export const DATA_ALGORITHMS = {
  'aes128-gcm': { uri: 'http://www.w3.org/2009/xmlenc11#aes128-gcm', cipher: 'aes-128-gcm', keyBytes: 16 },
  'aes256-gcm': { uri: 'http://www.w3.org/2009/xmlenc11#aes256-gcm', cipher: 'aes-256-gcm', keyBytes: 32 },
  'aes256-cbc': { uri: 'http://www.w3.org/2001/04/xmlenc#aes256-cbc', cipher: 'aes-256-cbc', keyBytes: 32 },
} as const;

export const KEY_TRANSPORT = {
  /** RSA-OAEP, MGF1 with SHA-1 (XML Encryption 1.0); the digest may still be named. */
  'rsa-oaep-mgf1p': 'http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p',
  /** RSA-OAEP (XML Encryption 1.1), MGF given by xenc11:MGF (default MGF1 with SHA-1). */
  'xmlenc11-rsa-oaep': 'http://www.w3.org/2009/xmlenc11#rsa-oaep',
} as const;

const DIGESTS = {
  sha1: 'http://www.w3.org/2000/09/xmldsig#sha1',
  sha256: 'http://www.w3.org/2001/04/xmlenc#sha256',
} as const;

export interface EncryptionOptions {
  data: keyof typeof DATA_ALGORITHMS;
  keyTransport: keyof typeof KEY_TRANSPORT;
  /** The OAEP digest, named in a DigestMethod inside the key's EncryptionMethod (default sha1). */
  oaepDigest?: keyof typeof DIGESTS;
  /**
   * Where the EncryptedKey goes: inside EncryptedData/KeyInfo (samlify, AD FS), or beside
   * EncryptedData in the EncryptedAssertion, pointed at by a RetrievalMethod (Shibboleth IdP).
   */
  keyPlacement?: 'nested' | 'sibling';
}

/**
 * Replace the one unprefixed, self-contained `<Assertion xmlns="...">` of a response (the AD FS
 * and Entra shapes) with an EncryptedAssertion for the sp-encryption certificate.
 */
export function encryptAssertion(responseXml: string, options: EncryptionOptions): string {
  const start = responseXml.indexOf('<Assertion ');
  const endTag = '</Assertion>';
  const end = responseXml.lastIndexOf(endTag);
  if (start === -1 || end === -1) throw new Error('no unprefixed Assertion to encrypt');
  const assertion = responseXml.slice(start, end + endTag.length);

  const data = DATA_ALGORITHMS[options.data];
  const key = randomBytes(data.keyBytes);
  const iv = randomBytes(data.cipher.endsWith('gcm') ? 12 : 16);
  const cipher = createCipheriv(data.cipher, key, iv);
  const body = Buffer.concat([cipher.update(assertion, 'utf8'), cipher.final()]);
  const tag = data.cipher.endsWith('gcm') ? (cipher as CipherGCM).getAuthTag() : Buffer.alloc(0);
  const cipherValue = Buffer.concat([iv, body, tag]).toString('base64');

  const digest = options.oaepDigest ?? 'sha1';
  const wrappedKey = publicEncrypt({ key: TEST_KEYS.spEncryptionCert, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: digest === 'sha1' ? 'sha1' : 'sha256' }, key).toString('base64');
  const encryptedKey =
    `<xenc:EncryptedKey xmlns:xenc="${XENC}" Id="_ek1">` +
    `<xenc:EncryptionMethod Algorithm="${KEY_TRANSPORT[options.keyTransport]}"><ds:DigestMethod xmlns:ds="${DS}" Algorithm="${DIGESTS[digest]}"/></xenc:EncryptionMethod>` +
    `<ds:KeyInfo xmlns:ds="${DS}"><ds:X509Data><ds:X509Certificate>${certificateBody(TEST_KEYS.spEncryptionCert)}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>` +
    `<xenc:CipherData><xenc:CipherValue>${wrappedKey}</xenc:CipherValue></xenc:CipherData></xenc:EncryptedKey>`;
  const sibling = options.keyPlacement === 'sibling';
  const keyInfo = sibling
    ? `<ds:KeyInfo xmlns:ds="${DS}"><ds:RetrievalMethod Type="${XENC}EncryptedKey" URI="#_ek1"/></ds:KeyInfo>`
    : `<ds:KeyInfo xmlns:ds="${DS}">${encryptedKey}</ds:KeyInfo>`;
  const encrypted =
    `<EncryptedAssertion xmlns="urn:oasis:names:tc:SAML:2.0:assertion">` +
    `<xenc:EncryptedData xmlns:xenc="${XENC}" Type="${XENC}Element"><xenc:EncryptionMethod Algorithm="${data.uri}"/>${keyInfo}` +
    `<xenc:CipherData><xenc:CipherValue>${cipherValue}</xenc:CipherValue></xenc:CipherData></xenc:EncryptedData>` +
    (sibling ? encryptedKey : '') +
    `</EncryptedAssertion>`;
  return responseXml.slice(0, start) + encrypted + responseXml.slice(end + endTag.length);
}
