import { createHash, X509Certificate } from 'node:crypto';
import type { ResolvedConnection } from '@broker/config';
import { spUrls, type IdpSettings } from './connection-settings.ts';

/** Everything the response checks need to know about one connection, derived once. */
export interface ResponsePolicy {
  connectionId: string;
  acsUrl: string;
  spEntityId: string;
  idpEntityId: string;
  wantResponseSigned: boolean;
  wantAssertionsSigned: boolean;
  requireEncryptedAssertions: boolean;
  canDecrypt: boolean;
  allowSha1: boolean;
  clockSkewMs: number;
  maxAssertionAgeMs: number;
  /** Accepted AuthnContextClassRefs; undefined when the connection requests none. */
  acceptedAuthnContexts?: readonly string[] | undefined;
  /** SHA-256 fingerprints (hex, colon-free, lowercase) of the pinned IdP certificates. */
  pinnedFingerprints: readonly string[];
  /** Largest base64 SAMLResponse accepted, in bytes. */
  maxResponseBytes: number;
  /** Deepest element nesting accepted. */
  maxDepth: number;
}

/** SHA-256 fingerprint of a certificate (PEM or base64 DER), lowercase hex without colons. */
export function certificateFingerprint(certificate: string): string {
  const der = certificate.includes('BEGIN CERTIFICATE') ? new X509Certificate(certificate).raw : Buffer.from(certificate.replace(/\s+/g, ''), 'base64');
  return createHash('sha256').update(der).digest('hex');
}

export function responsePolicy(issuer: string, connection: ResolvedConnection, idp: IdpSettings): ResponsePolicy {
  const sp = spUrls(issuer, connection);
  const requested = connection.authnRequest.requestedAuthnContext;
  return {
    connectionId: connection.id,
    acsUrl: sp.acsUrl,
    spEntityId: sp.entityId,
    idpEntityId: idp.entityId,
    wantResponseSigned: connection.wantResponseSigned,
    wantAssertionsSigned: connection.wantAssertionsSigned,
    requireEncryptedAssertions: connection.security.requireEncryptedAssertions,
    canDecrypt: connection.sp.encryption !== undefined,
    allowSha1: connection.security.allowSha1,
    clockSkewMs: connection.security.clockSkewSeconds * 1000,
    maxAssertionAgeMs: connection.security.maxAssertionAgeSeconds * 1000,
    acceptedAuthnContexts: requested?.classRefs,
    pinnedFingerprints: idp.certificates.map(certificateFingerprint),
    maxResponseBytes: connection.security.maxResponseBytes,
    maxDepth: connection.security.maxDepth,
  };
}
