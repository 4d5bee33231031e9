/**
 * Allow-lists of XML signature, digest and encryption algorithms. SHA-1 only where a connection
 * opts in; HMAC never (a shared-secret signature proves nothing about the IdP); CBC never
 * (padding-oracle attacks on XML encryption).
 */
const SIGNATURE_STRONG = new Set([
  'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
  'http://www.w3.org/2001/04/xmldsig-more#rsa-sha384',
  'http://www.w3.org/2001/04/xmldsig-more#rsa-sha512',
  'http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256',
  'http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384',
  'http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512',
]);
const SIGNATURE_SHA1 = 'http://www.w3.org/2000/09/xmldsig#rsa-sha1';

const DIGEST_STRONG = new Set([
  'http://www.w3.org/2001/04/xmlenc#sha256',
  'http://www.w3.org/2001/04/xmldsig-more#sha384',
  'http://www.w3.org/2001/04/xmlenc#sha512',
]);
const DIGEST_SHA1 = 'http://www.w3.org/2000/09/xmldsig#sha1';

const DATA_ENCRYPTION = new Set([
  'http://www.w3.org/2009/xmlenc11#aes128-gcm',
  'http://www.w3.org/2009/xmlenc11#aes192-gcm',
  'http://www.w3.org/2009/xmlenc11#aes256-gcm',
]);
// xmlenc11#rsa-oaep is not decryptable by xml-encryption 3.1 yet; rsa-oaep-mgf1p with its default
// SHA-1 OAEP digest is what IdPs send.
const KEY_TRANSPORT = new Set(['http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p']);
const OAEP_DIGEST_SHA1 = 'http://www.w3.org/2000/09/xmldsig#sha1';

export const isAllowedSignatureAlgorithm = (uri: string, allowSha1: boolean): boolean => SIGNATURE_STRONG.has(uri) || (allowSha1 && uri === SIGNATURE_SHA1);
export const isAllowedDigestAlgorithm = (uri: string, allowSha1: boolean): boolean => DIGEST_STRONG.has(uri) || (allowSha1 && uri === DIGEST_SHA1);
export const isAllowedDataEncryption = (uri: string): boolean => DATA_ENCRYPTION.has(uri);
export const isAllowedKeyTransport = (uri: string): boolean => KEY_TRANSPORT.has(uri);
/**
 * The OAEP digest inside RSA-OAEP key transport: absent or SHA-1 (the mask generation default).
 * xml-encryption 3.1 silently unwraps other digests with SHA-1 and fails; refuse them clearly.
 */
export const isAllowedOaepDigest = (uri: string | undefined): boolean => uri === undefined || uri === OAEP_DIGEST_SHA1;
export const isSha1 = (uri: string): boolean => uri === SIGNATURE_SHA1 || uri === DIGEST_SHA1;
