import { DOMParser } from '@xmldom/xmldom';

const MD = 'urn:oasis:names:tc:SAML:2.0:metadata';
const DS = 'http://www.w3.org/2000/09/xmldsig#';
const REDIRECT = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect';
const POST = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST';

/** What an IdP's metadata says about it. */
export interface IdpMetadata {
  entityId: string;
  ssoRedirectUrl?: string | undefined;
  ssoPostUrl?: string | undefined;
  sloUrl?: string | undefined;
  /** Signing certificates, as PEM. */
  certificates: string[];
}

/** Wrap base64 DER text as a PEM certificate. */
export function toPem(base64: string): string {
  const body = base64.replace(/\s+/g, '');
  return `-----BEGIN CERTIFICATE-----\n${body.match(/.{1,64}/g)?.join('\n') ?? ''}\n-----END CERTIFICATE-----\n`;
}

/**
 * Read entity ID, SSO and SLO URLs and signing certificates from IdP metadata XML. Metadata
 * with a DOCTYPE is refused outright (entity expansion), as is metadata without an IdP role.
 */
export function parseIdpMetadata(xml: string): IdpMetadata {
  if (/<!DOCTYPE/i.test(xml)) throw new Error('IdP metadata must not contain a DOCTYPE');
  const errors: string[] = [];
  const doc = new DOMParser({
    errorHandler: (level: string, message: unknown) => {
      if (level !== 'warning') errors.push(String(message));
    },
  }).parseFromString(xml, 'text/xml');
  if (errors.length) throw new Error(`IdP metadata is not well-formed XML: ${errors[0]}`);
  const descriptor = Array.from(doc.getElementsByTagNameNS(MD, 'EntityDescriptor'))[0];
  const idp = descriptor && Array.from(descriptor.getElementsByTagNameNS(MD, 'IDPSSODescriptor'))[0];
  if (!descriptor || !idp) throw new Error('IdP metadata has no EntityDescriptor with an IDPSSODescriptor');
  const entityId = descriptor.getAttribute('entityID');
  if (!entityId) throw new Error('IdP metadata EntityDescriptor has no entityID');

  // A service URL must be http(s), as a configured idp.ssoUrl must: the browser is sent there.
  const serviceUrl = (name: string, binding: string): string | undefined => {
    const location = Array.from(idp.getElementsByTagNameNS(MD, name)).find((el) => el.getAttribute('Binding') === binding)?.getAttribute('Location') ?? undefined;
    if (location === undefined) return undefined;
    const protocol = URL.canParse(location) ? new URL(location).protocol : '';
    if (protocol !== 'https:' && protocol !== 'http:') throw new Error(`IdP metadata ${name} Location is not an http(s) URL`);
    return location;
  };

  const certificates = Array.from(idp.getElementsByTagNameNS(MD, 'KeyDescriptor'))
    .filter((kd) => {
      const use = kd.getAttribute('use');
      return !use || use === 'signing';
    })
    .flatMap((kd) => Array.from(kd.getElementsByTagNameNS(DS, 'X509Certificate')).map((el) => toPem(el.textContent ?? '')));
  if (certificates.length === 0) throw new Error('IdP metadata has no signing certificate');

  return {
    entityId,
    ssoRedirectUrl: serviceUrl('SingleSignOnService', REDIRECT),
    ssoPostUrl: serviceUrl('SingleSignOnService', POST),
    sloUrl: serviceUrl('SingleLogoutService', REDIRECT) ?? serviceUrl('SingleLogoutService', POST),
    certificates,
  };
}
