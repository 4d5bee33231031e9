import { X509Certificate, createPrivateKey } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { selfSignedCertificate } from './self-signed-cert.ts';

describe('selfSignedCertificate (test helper)', () => {
  it('makes a valid, self-signed certificate for a fresh key', () => {
    const { privateKeyPem, certificatePem } = selfSignedCertificate('rogue idp');
    const cert = new X509Certificate(certificatePem);
    expect(cert.subject).toBe('CN=rogue idp');
    expect(cert.issuer).toBe('CN=rogue idp');
    expect(cert.checkPrivateKey(createPrivateKey(privateKeyPem))).toBe(true);
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect(new Date(cert.validFrom).getTime()).toBeLessThan(Date.now());
    expect(new Date(cert.validTo).getTime()).toBeGreaterThan(Date.now());
    expect(selfSignedCertificate('rogue idp').certificatePem).not.toBe(certificatePem);
  });
});
