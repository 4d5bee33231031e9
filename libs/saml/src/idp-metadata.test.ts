import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
// samlify is CommonJS; take the whole module as the default import (as the dev IdP does).
import samlify from 'samlify';
import { describe, expect, it } from 'vitest';
import { CONNECTION_DEFAULTS, type ResolvedConnection } from '@broker/config';
import { resolveIdpSettings } from './connection-settings.ts';
import { parseIdpMetadata, toPem } from './idp-metadata.ts';

const DEMO_DIR = new URL('../../../config/demo/dev-idp/', import.meta.url);
const CERT_PEM = readFileSync(fileURLToPath(new URL('signing-cert.pem', DEMO_DIR)), 'utf8');
const KEY_PEM = readFileSync(fileURLToPath(new URL('signing-key.pem', DEMO_DIR)), 'utf8');
const CERT_BASE64 = CERT_PEM.replace(/-----[A-Z ]+-----|\s+/g, '');
const REDIRECT = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect';
const POST = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST';

const fingerprint = (pem: string): string => new X509Certificate(pem).fingerprint256;

/**
 * The dev IdP's metadata, produced the way libs/dev-idp/src/saml.ts produces it (samlify with
 * the demo key pair). Built here rather than imported: the saml lib may not depend on dev-idp.
 */
function devIdpMetadata(baseUrl = 'http://localhost:3001'): string {
  return samlify
    .IdentityProvider({
      entityID: `${baseUrl}/metadata`,
      privateKey: KEY_PEM,
      signingCert: CERT_PEM,
      wantAuthnRequestsSigned: false,
      nameIDFormat: ['urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress'],
      singleSignOnService: [
        { Binding: REDIRECT, Location: `${baseUrl}/sso` },
        { Binding: POST, Location: `${baseUrl}/sso` },
      ],
    })
    .getMetadata();
}

/** Hand-written metadata in the `md:`-prefixed style many IdPs (Okta, Entra) publish. */
function prefixedMetadata(options: { keyDescriptors?: string; doctype?: string; entityId?: string | null } = {}): string {
  const keyDescriptors =
    options.keyDescriptors ??
    `<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>
${CERT_BASE64.match(/.{1,76}/g)?.join('\n') ?? ''}
</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>`;
  const entityId = options.entityId === null ? '' : ` entityID="${options.entityId ?? 'https://idp.example.test/entity'}"`;
  return `<?xml version="1.0" encoding="UTF-8"?>${options.doctype ?? ''}
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#"${entityId}>
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    ${keyDescriptors}
    <md:SingleLogoutService Binding="${POST}" Location="https://idp.example.test/slo/post"/>
    <md:SingleSignOnService Binding="${POST}" Location="https://idp.example.test/sso/post"/>
    <md:SingleSignOnService Binding="${REDIRECT}" Location="https://idp.example.test/sso/redirect"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>`;
}

const connection = (idp: Partial<ResolvedConnection['idp']>): ResolvedConnection => ({
  id: 'acme-idp',
  idp: { certificates: [], ...idp },
  wantAssertionsSigned: true,
  wantResponseSigned: false,
  nameIdFormat: 'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified',
  attributes: { email: 'email', givenName: 'givenName', surname: 'surname' },
  ...CONNECTION_DEFAULTS,
});

describe('parseIdpMetadata', () => {
  it("reads the dev IdP's metadata: entity ID, both SSO bindings and the signing certificate", () => {
    const metadata = parseIdpMetadata(devIdpMetadata());
    expect(metadata.entityId).toBe('http://localhost:3001/metadata');
    expect(metadata.ssoRedirectUrl).toBe('http://localhost:3001/sso');
    expect(metadata.ssoPostUrl).toBe('http://localhost:3001/sso');
    expect(metadata.sloUrl).toBeUndefined();
    expect(metadata.certificates).toHaveLength(1);
    // The PEM it builds is a valid certificate, the very one the dev IdP signs with.
    expect(fingerprint(metadata.certificates[0] ?? '')).toBe(fingerprint(CERT_PEM));
  });

  it('reads prefixed metadata with a line-wrapped certificate and picks each binding', () => {
    const metadata = parseIdpMetadata(prefixedMetadata());
    expect(metadata).toMatchObject({
      entityId: 'https://idp.example.test/entity',
      ssoRedirectUrl: 'https://idp.example.test/sso/redirect',
      ssoPostUrl: 'https://idp.example.test/sso/post',
      sloUrl: 'https://idp.example.test/slo/post',
    });
    expect(metadata.certificates.map(fingerprint)).toEqual([fingerprint(CERT_PEM)]);
  });

  it('trusts signing and unmarked keys, never encryption-only keys', () => {
    const key = (use: string | undefined, body: string) =>
      `<md:KeyDescriptor${use ? ` use="${use}"` : ''}><ds:KeyInfo><ds:X509Data><ds:X509Certificate>${body}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>`;
    const metadata = parseIdpMetadata(prefixedMetadata({ keyDescriptors: key('encryption', 'RU5DUllQVElPTg==') + key(undefined, CERT_BASE64) + key('signing', 'U0lHTklORw==') }));
    expect(metadata.certificates).toEqual([toPem(CERT_BASE64), toPem('U0lHTklORw==')]);
  });

  it('refuses metadata with a DOCTYPE, whatever its case and content', () => {
    const billionLaughs = '<!DOCTYPE md:EntityDescriptor [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>';
    expect(() => parseIdpMetadata(prefixedMetadata({ doctype: billionLaughs }))).toThrow(/DOCTYPE/);
    expect(() => parseIdpMetadata(prefixedMetadata({ doctype: '<!doctype x SYSTEM "file:///etc/passwd">' }))).toThrow(/DOCTYPE/);
    const external = devIdpMetadata().replace('<EntityDescriptor', '<!DOCTYPE EntityDescriptor [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><EntityDescriptor');
    expect(() => parseIdpMetadata(external)).toThrow(/DOCTYPE/);
  });

  it('refuses metadata whose SSO or SLO Location is not an http(s) URL (the browser is sent there)', () => {
    const metadata = devIdpMetadata();
    expect(metadata).toContain('Location="http://localhost:3001/sso"');
    expect(() => parseIdpMetadata(metadata.replace('Location="http://localhost:3001/sso"', 'Location="javascript:alert(document.domain)//"'))).toThrow(/SingleSignOnService Location is not an http\(s\) URL/);
    expect(() => parseIdpMetadata(metadata.replace('Location="http://localhost:3001/sso"', 'Location="data:text/html,x"'))).toThrow(/not an http\(s\) URL/);
  });

  it('refuses metadata without a signing certificate', () => {
    expect(() => parseIdpMetadata(prefixedMetadata({ keyDescriptors: '' }))).toThrow('IdP metadata has no signing certificate');
    const encryptionOnly = `<md:KeyDescriptor use="encryption"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>${CERT_BASE64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>`;
    expect(() => parseIdpMetadata(prefixedMetadata({ keyDescriptors: encryptionOnly }))).toThrow('IdP metadata has no signing certificate');
    const withoutKeys = devIdpMetadata().replace(/<KeyDescriptor[\s\S]*<\/KeyDescriptor>/, '');
    expect(() => parseIdpMetadata(withoutKeys)).toThrow('IdP metadata has no signing certificate');
  });

  it('refuses metadata that is not an IdP entity with an entity ID', () => {
    expect(() => parseIdpMetadata(prefixedMetadata({ entityId: null }))).toThrow(/no entityID/);
    const spMetadata = `<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="urn:sp"><SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"/></EntityDescriptor>`;
    expect(() => parseIdpMetadata(spMetadata)).toThrow(/no EntityDescriptor with an IDPSSODescriptor/);
    // Right local names in the wrong namespace do not count.
    const wrongNamespace = devIdpMetadata().replace('urn:oasis:names:tc:SAML:2.0:metadata', 'urn:example:not-saml');
    expect(() => parseIdpMetadata(wrongNamespace)).toThrow(/no EntityDescriptor with an IDPSSODescriptor/);
  });

  it('refuses XML that is not well-formed', () => {
    expect(() => parseIdpMetadata('<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"><unclosed>')).toThrow();
    expect(() => parseIdpMetadata('not xml at all')).toThrow();
  });
});

describe('toPem', () => {
  it('wraps base64 at 64 characters between PEM markers, ignoring whitespace', () => {
    const pem = toPem(`  ${CERT_BASE64.slice(0, 10)}\n ${CERT_BASE64.slice(10)}\t`);
    expect(pem.startsWith('-----BEGIN CERTIFICATE-----\n')).toBe(true);
    expect(pem.endsWith('\n-----END CERTIFICATE-----\n')).toBe(true);
    for (const line of pem.trim().split('\n').slice(1, -1)) expect(line.length).toBeLessThanOrEqual(64);
    expect(fingerprint(pem)).toBe(fingerprint(CERT_PEM));
  });
});

describe('resolveIdpSettings with metadata', () => {
  it('takes what the configuration leaves out from the metadata, preferring the redirect binding', () => {
    const settings = resolveIdpSettings(connection({ metadataXml: prefixedMetadata() }));
    expect(settings).toEqual({ entityId: 'https://idp.example.test/entity', ssoUrl: 'https://idp.example.test/sso/redirect', sloUrl: 'https://idp.example.test/slo/post', certificates: [toPem(CERT_BASE64)] });
  });

  it('lets configured values win and trusts the certificates of both, once each', () => {
    const next = `<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>TkVYVA==</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>`;
    const settings = resolveIdpSettings(
      connection({ entityId: 'urn:configured', ssoUrl: 'https://configured.test/sso', certificates: [CERT_PEM], metadataXml: prefixedMetadata({ keyDescriptors: next }) }),
    );
    expect(settings).toEqual({ entityId: 'urn:configured', ssoUrl: 'https://configured.test/sso', sloUrl: 'https://idp.example.test/slo/post', certificates: [CERT_PEM, toPem('TkVYVA==')] });
    // The dev IdP's certificate, from the file and rebuilt from its metadata, is trusted once.
    const same = resolveIdpSettings(connection({ certificates: [CERT_PEM], metadataXml: devIdpMetadata() }));
    expect(same.certificates).toEqual([CERT_PEM]);
  });

  it('names the connection when something is missing or the metadata is refused', () => {
    expect(() => resolveIdpSettings(connection({ ssoUrl: 'https://x.test/sso', certificates: [CERT_PEM] }))).toThrow('connection acme-idp: no IdP entity ID');
    expect(() => resolveIdpSettings(connection({ entityId: 'urn:x', certificates: [CERT_PEM] }))).toThrow('connection acme-idp: no IdP SSO URL');
    expect(() => resolveIdpSettings(connection({ entityId: 'urn:x', ssoUrl: 'https://x.test/sso' }))).toThrow('connection acme-idp: no IdP signing certificate');
    expect(() => resolveIdpSettings(connection({ metadataXml: prefixedMetadata({ doctype: '<!DOCTYPE x>' }) }))).toThrow(/DOCTYPE/);
  });
});
