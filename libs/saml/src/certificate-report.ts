import { X509Certificate } from 'node:crypto';
import { certificateFingerprint } from './policy.ts';

/**
 * The state of a connection's pinned IdP signing certificates, for diagnostics: which ones are
 * trusted, until when, and what to do before sign-ins start failing. Signatures are checked
 * against the pinned certificates whatever their dates, so an expired certificate
 * keeps working until the IdP stops signing with it; the risk is the IdP's rotation, which
 * breaks sign-in unless its next certificate is pinned ahead of time.
 */

export type CertificateStatus = 'valid' | 'expiring' | 'expired';

export interface CertificateInfo {
  /** SHA-256 of the DER, lowercase hex without colons (as in rejection details). */
  fingerprint: string;
  subject: string;
  issuer: string;
  /** ISO 8601. */
  notBefore: string;
  notAfter: string;
  status: CertificateStatus;
  /** Whole days until notAfter (negative once expired). */
  daysLeft: number;
}

export interface CertificateWarning {
  code: string;
  message: string;
}

export interface CertificateReport {
  certificates: CertificateInfo[];
  warnings: CertificateWarning[];
}

export interface CertificateReportOptions {
  /** The connection accepts SHA-1 signatures and digests (security.allowSha1). */
  allowSha1: boolean;
  /** Clock in epoch ms. */
  now?: number;
  /** A certificate expiring within this many days is 'expiring' (default 30). */
  expiringWithinDays?: number;
}

const DAY_MS = 24 * 3600 * 1000;

/** Report on pinned certificates (PEM, or base64 DER as in metadata). */
export function certificateReport(certificates: readonly string[], options: CertificateReportOptions): CertificateReport {
  const now = options.now ?? Date.now();
  const window = (options.expiringWithinDays ?? 30) * DAY_MS;
  const warnings: CertificateWarning[] = [];
  if (options.allowSha1) {
    warnings.push({
      code: 'sha1_allowed',
      message: 'security.allowSha1 is on: this connection accepts SHA-1 signatures and digests, which can be forged. Set the IdP to SHA-256 and turn allowSha1 off.',
    });
  }

  const infos: CertificateInfo[] = [];
  certificates.forEach((certificate, index) => {
    let x509: X509Certificate;
    try {
      x509 = new X509Certificate(certificate.includes('BEGIN CERTIFICATE') ? certificate : Buffer.from(certificate.replace(/\s+/g, ''), 'base64'));
    } catch {
      warnings.push({ code: 'certificate_unreadable', message: `Pinned certificate #${index + 1} is not a readable X.509 certificate: replace it in idp.certificates (or the metadata).` });
      return;
    }
    const notBefore = x509.validFromDate.getTime();
    const notAfter = x509.validToDate.getTime();
    const status: CertificateStatus = notAfter <= now ? 'expired' : notAfter - now <= window ? 'expiring' : 'valid';
    const info: CertificateInfo = {
      fingerprint: certificateFingerprint(certificate),
      subject: oneLine(x509.subject),
      issuer: oneLine(x509.issuer),
      notBefore: new Date(notBefore).toISOString(),
      notAfter: new Date(notAfter).toISOString(),
      status,
      daysLeft: Math.floor((notAfter - now) / DAY_MS),
    };
    infos.push(info);
    const name = `${info.subject} (SHA-256 ${info.fingerprint.slice(0, 16)}…)`;
    if (status === 'expired') {
      warnings.push({
        code: 'certificate_expired',
        message: `The IdP certificate ${name} expired on ${info.notAfter}. If the IdP still signs with it, renew it in the IdP and pin the new one; once the IdP has switched, remove this one from idp.certificates.`,
      });
    } else if (status === 'expiring') {
      warnings.push({
        code: 'certificate_expiring',
        message: `The IdP certificate ${name} expires on ${info.notAfter} (in ${info.daysLeft} days). Ask the IdP administrator for the next certificate and pin it before then.`,
      });
    }
    if (notBefore > now) {
      warnings.push({ code: 'certificate_not_yet_valid', message: `The IdP certificate ${name} is valid only from ${info.notBefore}: check the IdP's and the broker's clocks.` });
    }
  });

  const only = infos.length === 1 ? infos[0] : undefined;
  if (only && only.status !== 'valid') {
    warnings.push({
      code: 'add_next_certificate',
      message: `Only one IdP certificate is pinned and it ${only.status === 'expired' ? 'has expired' : `expires on ${only.notAfter}`}: add the IdP's next certificate to idp.certificates (or re-import the IdP metadata once it lists the next certificate), so sign-ins keep working when the IdP switches.`,
    });
  }
  return { certificates: infos, warnings };
}

/** X509Certificate gives a distinguished name one attribute per line. */
const oneLine = (name: string): string => name.split('\n').filter(Boolean).join(', ');
