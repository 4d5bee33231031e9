import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';

/** What koa's `cookies` needs of its keys (the keygrip interface). */
export interface CookieSigner {
  /** The signature of `data` with the first key. */
  sign(data: string): string;
  verify(data: string, digest: string): boolean;
  /** The index of the key that signed `data` as `digest`, or -1. */
  index(data: string, digest: string): number;
}

/**
 * oidc-provider's cookie signer, given as `cookies.keys`: the same signatures as the keygrip that
 * koa builds from an array of key strings (HMAC-SHA1, base64url without padding; the first key
 * signs, every key verifies, so rotation and cookies already in browsers work as before), at a
 * fraction of the cost per cookie. keygrip hands each string key to createHmac, which imports it
 * again for every signature; and it compares with tsscmp, which takes 32 random bytes and two more
 * HMACs per comparison. Here the keys are imported once (KeyObjects) and the comparison is
 * crypto.timingSafeEqual, constant time over the digest (its length is fixed and public).
 */
export function createCookieSigner(keys: readonly string[]): CookieSigner {
  if (keys.length === 0) throw new TypeError('at least one cookie key is required');
  const secrets: KeyObject[] = keys.map((key) => createSecretKey(Buffer.from(key, 'utf8')));
  const signWith = (key: KeyObject, data: string): string => createHmac('sha1', key).update(data).digest('base64url');
  const index = (data: string, digest: string): number => {
    if (typeof digest !== 'string') return -1;
    const given = Buffer.from(digest);
    for (const [i, key] of secrets.entries()) {
      const expected = Buffer.from(signWith(key, data));
      if (given.length === expected.length && timingSafeEqual(given, expected)) return i;
    }
    return -1;
  };
  const first = secrets[0] as KeyObject;
  return {
    sign: (data) => signWith(first, data),
    verify: (data, digest) => index(data, digest) > -1,
    index,
  };
}
