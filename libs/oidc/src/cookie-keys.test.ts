import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createCookieSigner } from './cookie-keys.ts';

/** keygrip 1.1's signature (what koa used with an array of keys): HMAC-SHA1, URL-safe base64, no padding. */
const keygripSign = (key: string, data: string): string =>
  createHmac('sha1', key)
    .update(data)
    .digest('base64')
    .replace(/\/|\+|=/g, (x) => ({ '/': '_', '+': '-', '=': '' })[x] ?? x);

const data = '_interaction=Ks3kJ1bF0s8YpVQbP3xD2; path=/interaction/Ks3kJ1bF0s8YpVQbP3xD2; httponly';

describe('cookie signer', () => {
  it('signs as keygrip did, with the first key', () => {
    const signer = createCookieSigner(['current-key', 'older-key']);
    expect(signer.sign(data)).toBe(keygripSign('current-key', data));
    // A fixed vector (keygrip 1.1.0's output), so a change of algorithm or encoding cannot pass unnoticed.
    expect(createCookieSigner(['key']).sign('name=value')).toBe(keygripSign('key', 'name=value'));
    expect(createCookieSigner(['key']).sign('name=value')).toBe('m63a022bF2JAQQsioJqffb34BcU');
  });

  it('accepts what any of its keys signed (rotation) and says which', () => {
    const signer = createCookieSigner(['new-key', 'old-key']);
    expect(signer.index(data, keygripSign('new-key', data))).toBe(0);
    expect(signer.index(data, keygripSign('old-key', data))).toBe(1);
    expect(signer.verify(data, keygripSign('old-key', data))).toBe(true);
  });

  it('refuses other keys, other data, altered, truncated, padded and empty signatures', () => {
    const signer = createCookieSigner(['new-key', 'old-key']);
    const good = keygripSign('new-key', data);
    const refused = [
      keygripSign('another-key', data),
      keygripSign('new-key', `${data}x`),
      `${good.slice(0, -1)}${good.endsWith('A') ? 'B' : 'A'}`,
      good.slice(0, -1),
      `${good}=`,
      '',
      createHmac('sha256', 'new-key').update(data).digest('base64url'),
    ];
    for (const digest of refused) {
      expect(signer.index(data, digest), digest).toBe(-1);
      expect(signer.verify(data, digest), digest).toBe(false);
    }
    expect(signer.index(data, undefined as unknown as string)).toBe(-1);
  });

  it('treats keys as UTF-8 text, as keygrip did', () => {
    const signer = createCookieSigner(['clé-ünïcode']);
    expect(signer.sign(data)).toBe(keygripSign('clé-ünïcode', data));
  });

  it('needs a key', () => {
    expect(() => createCookieSigner([])).toThrow(TypeError);
  });
});
