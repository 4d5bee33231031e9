import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { certificateReport } from './certificate-report.ts';

const key = (name: string): string => readFileSync(fileURLToPath(new URL(`../../testing/fixtures/keys/${name}`, import.meta.url)), 'utf8');
const IDP_A = key('idp-a.cert.pem');
const IDP_B = key('idp-b.cert.pem');
const EXPIRED = key('idp-expired.cert.pem');
const sha256 = (pem: string): string => new X509Certificate(pem).fingerprint256.replace(/:/g, '').toLowerCase();
const notAfter = (pem: string): number => new X509Certificate(pem).validToDate.getTime();
const DAY = 24 * 3600 * 1000;
const codes = (report: ReturnType<typeof certificateReport>) => report.warnings.map((w) => w.code);

describe('certificateReport', () => {
  it('describes a valid certificate: fingerprint, subject, dates, status, no warnings', () => {
    const now = Date.parse('2027-01-01T00:00:00Z');
    const report = certificateReport([IDP_A, IDP_B], { allowSha1: false, now });
    expect(report.warnings).toEqual([]);
    expect(report.certificates).toHaveLength(2);
    expect(report.certificates[0]).toEqual({
      fingerprint: sha256(IDP_A),
      subject: 'CN=test-idp-a',
      issuer: 'CN=test-idp-a',
      notBefore: new X509Certificate(IDP_A).validFromDate.toISOString(),
      notAfter: new Date(notAfter(IDP_A)).toISOString(),
      status: 'valid',
      daysLeft: Math.floor((notAfter(IDP_A) - now) / DAY),
    });
  });

  it('reports an expired certificate, and asks for the next one when it is the only one pinned', () => {
    const report = certificateReport([EXPIRED], { allowSha1: false, now: Date.parse('2027-01-01T00:00:00Z') });
    expect(report.certificates[0]).toMatchObject({ subject: 'CN=test-idp-expired', status: 'expired', notAfter: '2021-01-01T00:00:00.000Z' });
    expect(report.certificates[0]?.daysLeft).toBeLessThan(0);
    expect(codes(report)).toEqual(['certificate_expired', 'add_next_certificate']);
    expect(report.warnings[1]?.message).toMatch(/add the IdP's next certificate/);
  });

  it('does not ask for a next certificate when one is already pinned beside an expired one', () => {
    const report = certificateReport([EXPIRED, IDP_A], { allowSha1: false, now: Date.parse('2027-01-01T00:00:00Z') });
    expect(report.certificates.map((c) => c.status)).toEqual(['expired', 'valid']);
    expect(codes(report)).toEqual(['certificate_expired']);
  });

  it("is 'expiring' within 30 days of notAfter and then asks for the IdP's next certificate", () => {
    const now = notAfter(IDP_A) - 10 * DAY;
    const report = certificateReport([IDP_A], { allowSha1: false, now });
    expect(report.certificates[0]).toMatchObject({ status: 'expiring', daysLeft: 10 });
    expect(codes(report)).toEqual(['certificate_expiring', 'add_next_certificate']);
    expect(report.warnings[0]?.message).toMatch(/in 10 days/);
    // 31 days before: still valid; the window is configurable.
    expect(certificateReport([IDP_A], { allowSha1: false, now: notAfter(IDP_A) - 31 * DAY }).certificates[0]?.status).toBe('valid');
    expect(certificateReport([IDP_A], { allowSha1: false, now: notAfter(IDP_A) - 31 * DAY, expiringWithinDays: 60 }).certificates[0]?.status).toBe('expiring');
    // Two pinned, one expiring: the rotation is prepared, so only the expiry is reported.
    expect(codes(certificateReport([IDP_A, IDP_B], { allowSha1: false, now }))).toEqual(expect.arrayContaining(['certificate_expiring']));
    expect(codes(certificateReport([IDP_A, IDP_B], { allowSha1: false, now }))).not.toContain('add_next_certificate');
  });

  it('warns when SHA-1 is allowed', () => {
    const report = certificateReport([IDP_A], { allowSha1: true, now: Date.parse('2027-01-01T00:00:00Z') });
    expect(codes(report)).toEqual(['sha1_allowed']);
    expect(report.warnings[0]?.message).toMatch(/allowSha1/);
  });

  it('reads base64 DER as metadata carries it, and warns about an unreadable certificate', () => {
    const der = IDP_A.replace(/-----[A-Z ]+-----|\s+/g, '');
    const report = certificateReport([der, 'not a certificate'], { allowSha1: false, now: Date.parse('2027-01-01T00:00:00Z') });
    expect(report.certificates.map((c) => c.fingerprint)).toEqual([sha256(IDP_A)]);
    expect(codes(report)).toEqual(['certificate_unreadable']);
  });

  it('warns about a certificate that is not valid yet', () => {
    const report = certificateReport([IDP_A], { allowSha1: false, now: Date.parse('2020-01-01T00:00:00Z') });
    expect(codes(report)).toEqual(['certificate_not_yet_valid']);
  });
});
