import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ResolvedConfig } from '@broker/config';

/** The shortest cookie key, client secret and admin token accepted in production (characters). */
export const MIN_SECRET_LENGTH = 32;

/** The demo IdP's certificate (its private key is in the repository): never pinned for a real tenant. */
const DEMO_IDP_CERTIFICATE = fileURLToPath(new URL('../../../config/demo/dev-idp/signing-cert.pem', import.meta.url));

const fingerprint = (pem: string): string | undefined => {
  try {
    return new X509Certificate(pem).fingerprint256;
  } catch {
    return undefined;
  }
};

/**
 * What a production configuration (split mode with `development: false`) must not have, as
 * `field: problem` lines (empty when fine): an issuer that is not https, short cookie keys, client
 * secrets or admin token, the demo's client secrets or IdP certificate, private metadata URLs.
 * Secret values are never quoted.
 */
export function productionProblems(config: ResolvedConfig, demoCertificatePem: string | undefined = readDemoCertificate()): string[] {
  const problems: string[] = [];
  if (!config.issuer.startsWith('https://')) problems.push('issuer: must be https');
  const short = (value: string | undefined) => value !== undefined && value.length < MIN_SECRET_LENGTH;
  (config.secrets.cookieKeys ?? []).forEach((key, i) => {
    if (short(key)) problems.push(`secrets.cookieKeys.${i}: shorter than ${MIN_SECRET_LENGTH} characters`);
  });
  if (short(config.admin.apiToken)) problems.push(`admin.apiToken: shorter than ${MIN_SECRET_LENGTH} characters`);
  config.clients.forEach((client, i) => {
    if (short(client.clientSecret)) problems.push(`clients.${i}.clientSecret: shorter than ${MIN_SECRET_LENGTH} characters`);
    else if (client.clientSecret?.includes('not-for-production')) problems.push(`clients.${i}.clientSecret: the demo configuration's value`);
  });
  const demo = demoCertificatePem === undefined ? undefined : fingerprint(demoCertificatePem);
  config.tenants.forEach((tenant, t) =>
    tenant.connections.forEach((connection, c) =>
      connection.idp.certificates.forEach((certificate, k) => {
        if (demo !== undefined && fingerprint(certificate) === demo) {
          problems.push(`tenants.${t}.connections.${c}.idp.certificates.${k}: the demo IdP's certificate (its private key is public: anyone could sign in as anyone)`);
        }
      }),
    ),
  );
  if (config.saml.allowPrivateMetadataUrls) problems.push('saml.allowPrivateMetadataUrls: for development only');
  return problems;
}

function readDemoCertificate(): string | undefined {
  try {
    return readFileSync(DEMO_IDP_CERTIFICATE, 'utf8');
  } catch {
    return undefined;
  }
}
