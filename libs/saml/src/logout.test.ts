// IdP-initiated Single Logout at the SP: LogoutRequests in the HTTP-Redirect binding (signed
// query string, SAML Bindings 3.4.4.1) and the HTTP-POST binding (enveloped signature), and the
// LogoutResponse the SP sends back.
import { createSign, createVerify } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type { Request } from 'express';
import { describe, expect, it } from 'vitest';
import type { ResolvedConnection } from '@broker/config';
import { createMemoryStore } from '@broker/store';
import { fixtureKeyPair, signRootElement } from '@broker/testing';
import { interopConnection } from './interop/support.ts';
import { SamlRejection } from './rejection.ts';
import { createSamlServiceProvider } from './service-provider.ts';
import { NS, parseXml } from './xml.ts';

const ISSUER = 'https://login.broker.test';
const IDP = 'https://idp.test/metadata';
const SLO = `${ISSUER}/saml/slo-idp/slo`;
const IDP_SLO = 'https://idp.example.test/slo';
const RSA_SHA256 = 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256';
const idpA = fixtureKeyPair('idp-a');
const attacker = fixtureKeyPair('attacker');
const spSigning = fixtureKeyPair('sp-signing');

const base = interopConnection({ id: 'slo-idp', idpEntityId: IDP });
const connection: ResolvedConnection = { ...base, idp: { ...base.idp, sloUrl: IDP_SLO } };
const signingConnection: ResolvedConnection = { ...connection, sp: { signing: { privateKey: spSigning.privateKeyPem, certificate: spSigning.certificatePem } } };
const noSlo: ResolvedConnection = { ...base };

let counter = 0;
function logoutRequestXml(options: { id?: string; issuer?: string; destination?: string | null; nameId?: string; issueInstant?: Date; notOnOrAfter?: Date } = {}): string {
  const id = options.id ?? `_logout${++counter}`;
  const destination = options.destination === null ? '' : ` Destination="${options.destination ?? SLO}"`;
  const notOnOrAfter = options.notOnOrAfter ? ` NotOnOrAfter="${options.notOnOrAfter.toISOString()}"` : '';
  return (
    `<samlp:LogoutRequest xmlns:samlp="${NS.samlp}" xmlns:saml="${NS.saml}" ID="${id}" Version="2.0" IssueInstant="${(options.issueInstant ?? new Date()).toISOString()}"${destination}${notOnOrAfter}>` +
    `<saml:Issuer>${options.issuer ?? IDP}</saml:Issuer>` +
    `<saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">${options.nameId ?? 'alice@acme.test'}</saml:NameID>` +
    `<samlp:SessionIndex>_session-1</samlp:SessionIndex>` +
    `</samlp:LogoutRequest>`
  );
}

/** The query of a Redirect-binding LogoutRequest, signed (RSA-SHA256) with `key` unless told not to. */
function redirectQuery(xml: string, options: { key?: string | null; relayState?: string } = {}): string {
  const parts = [`SAMLRequest=${encodeURIComponent(deflateRawSync(Buffer.from(xml, 'utf8')).toString('base64'))}`];
  if (options.relayState !== undefined) parts.push(`RelayState=${encodeURIComponent(options.relayState)}`);
  if (options.key === null) return parts.join('&');
  parts.push(`SigAlg=${encodeURIComponent(RSA_SHA256)}`);
  const signature = createSign('RSA-SHA256')
    .update(parts.join('&'))
    .sign(options.key ?? idpA.privateKeyPem, 'base64');
  return `${parts.join('&')}&Signature=${encodeURIComponent(signature)}`;
}

/** The express request the SLO route hands over: GET with the raw query, or POST with the body. */
function getRequest(query: string): Request {
  return { method: 'GET', originalUrl: `/saml/slo-idp/slo?${query}`, url: `/saml/slo-idp/slo?${query}`, query: {}, headers: {} } as unknown as Request;
}
function postRequest(body: Record<string, string>): Request {
  return { method: 'POST', originalUrl: '/saml/slo-idp/slo', url: '/saml/slo-idp/slo', query: {}, headers: {}, body } as unknown as Request;
}

async function rejection(promise: Promise<unknown>): Promise<SamlRejection> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SamlRejection);
  return error as SamlRejection;
}

describe('IdP-initiated Single Logout', () => {
  const sp = createSamlServiceProvider({ issuer: ISSUER, store: createMemoryStore() });

  it('accepts a LogoutRequest signed by the pinned IdP key (HTTP-Redirect), once', async () => {
    const query = redirectQuery(logoutRequestXml({ id: '_redirect-ok' }), { relayState: 'relay+/&=' });
    const validated = await sp.validateLogoutRequest(getRequest(query), connection);
    expect(validated).toMatchObject({ requestId: '_redirect-ok', nameId: 'alice@acme.test', sessionIndex: '_session-1', relayState: 'relay+/&=' });
    expect((await rejection(sp.validateLogoutRequest(getRequest(query), connection))).code).toBe('saml.logout_replay');
  });

  it('accepts a LogoutRequest with an enveloped signature (HTTP-POST)', async () => {
    const xml = signRootElement(logoutRequestXml({ id: '_post-ok' }), { key: idpA });
    const validated = await sp.validateLogoutRequest(postRequest({ SAMLRequest: Buffer.from(xml).toString('base64'), RelayState: 'r1' }), connection);
    expect(validated).toMatchObject({ requestId: '_post-ok', nameId: 'alice@acme.test', relayState: 'r1' });
  });

  it('refuses unsigned, wrongly signed and tampered LogoutRequests', async () => {
    expect((await rejection(sp.validateLogoutRequest(getRequest(redirectQuery(logoutRequestXml(), { key: null })), connection))).code).toBe('saml.logout_unsigned');
    expect((await rejection(sp.validateLogoutRequest(getRequest(redirectQuery(logoutRequestXml(), { key: attacker.privateKeyPem })), connection))).code).toBe('saml.logout_invalid_signature');
    // Signed for alice, then the SAMLRequest swapped for bob's: the signature no longer covers it.
    const signed = redirectQuery(logoutRequestXml({ id: '_swap' }));
    const swapped = signed.replace(/^SAMLRequest=[^&]+/, redirectQuery(logoutRequestXml({ id: '_swap', nameId: 'bob@acme.test' }), { key: null }));
    expect((await rejection(sp.validateLogoutRequest(getRequest(swapped), connection))).code).toBe('saml.logout_invalid_signature');
    // A repeated parameter is refused, not guessed at.
    expect((await rejection(sp.validateLogoutRequest(getRequest(`${signed}&SAMLRequest=x`), connection))).code).toBe('saml.logout_invalid');

    const unsignedPost = Buffer.from(logoutRequestXml()).toString('base64');
    expect((await rejection(sp.validateLogoutRequest(postRequest({ SAMLRequest: unsignedPost }), connection))).code).toBe('saml.logout_unsigned');
    const roguePost = Buffer.from(signRootElement(logoutRequestXml(), { key: attacker })).toString('base64');
    expect((await rejection(sp.validateLogoutRequest(postRequest({ SAMLRequest: roguePost }), connection))).code).toBe('saml.logout_invalid_signature');
  });

  it('refuses another issuer, another destination, an expired or stale request, and a DOCTYPE', async () => {
    const refused = async (xml: string) => (await rejection(sp.validateLogoutRequest(getRequest(redirectQuery(xml)), connection))).code;
    expect(await refused(logoutRequestXml({ issuer: 'https://other-idp.test' }))).toBe('saml.logout_issuer_mismatch');
    expect(await refused(logoutRequestXml({ destination: `${ISSUER}/saml/other/slo` }))).toBe('saml.logout_destination_mismatch');
    expect(await refused(logoutRequestXml({ notOnOrAfter: new Date(Date.now() - 10 * 60_000) }))).toBe('saml.logout_expired');
    expect(await refused(logoutRequestXml({ issueInstant: new Date(Date.now() - 60 * 60_000) }))).toBe('saml.logout_expired');
    expect(await refused(`<!DOCTYPE x [<!ENTITY e "e">]>${logoutRequestXml()}`)).toBe('saml.logout_invalid');
    // No Destination is allowed (it is optional for a signed Redirect message).
    await expect(sp.validateLogoutRequest(getRequest(redirectQuery(logoutRequestXml({ destination: null }))), connection)).resolves.toMatchObject({ nameId: 'alice@acme.test' });
  });

  it('refuses a LogoutRequest with more elements than a real one has, or a processing instruction, before verifying anything', async () => {
    // node-saml's XPath over 15 000 elements took seconds: such a request never reaches it.
    const bloated = (count: number, empty: boolean) =>
      logoutRequestXml({ nameId: 'alice@acme.test' }).replace('</samlp:LogoutRequest>', `<samlp:Extensions>${(empty ? '<x/>' : '<x>y</x>').repeat(count)}</samlp:Extensions></samlp:LogoutRequest>`);
    for (const xml of [bloated(15_000, true), bloated(100, false), bloated(61, true)]) {
      const redirect = await rejection(sp.validateLogoutRequest(getRequest(redirectQuery(xml)), connection));
      // Counted in the text before parsing (the LogoutRequest), or in the parsed document (the XML).
      expect(redirect.code).toBe('saml.logout_invalid');
      expect(redirect.message).toMatch(/^the (LogoutRequest|XML) has more than 64 elements$/);
      const post = await rejection(sp.validateLogoutRequest(postRequest({ SAMLRequest: Buffer.from(signRootElement(xml, { key: idpA })).toString('base64') }), connection));
      expect(post.code).toBe('saml.logout_invalid');
    }
    // A few extension elements are fine.
    await expect(sp.validateLogoutRequest(getRequest(redirectQuery(bloated(5, true))), connection)).resolves.toMatchObject({ nameId: 'alice@acme.test' });
    const withPi = logoutRequestXml().replace('<saml:Issuer>', '<?x y?><saml:Issuer>');
    expect((await rejection(sp.validateLogoutRequest(getRequest(redirectQuery(withPi)), connection))).message).toBe('the XML contains a processing instruction');
  });

  it('answers only when the IdP has an SLO URL', async () => {
    expect((await rejection(sp.validateLogoutRequest(getRequest(redirectQuery(logoutRequestXml())), noSlo))).code).toBe('saml.slo_not_configured');
  });

  it('builds the LogoutResponse to the IdP SLO URL (Redirect binding), signed when the SP has a signing key', async () => {
    const unsigned = new URL(await sp.logoutResponseUrl(connection, '_req-1', 'relay-1', true));
    expect(unsigned.origin + unsigned.pathname).toBe(IDP_SLO);
    expect(unsigned.searchParams.get('RelayState')).toBe('relay-1');
    expect(unsigned.searchParams.get('Signature')).toBeNull();
    const xml = inflateRawSync(Buffer.from(unsigned.searchParams.get('SAMLResponse') ?? '', 'base64')).toString('utf8');
    const response = parseXml(xml).documentElement;
    expect(response?.localName).toBe('LogoutResponse');
    expect(response?.getAttribute('InResponseTo')).toBe('_req-1');
    expect(response?.getAttribute('Destination')).toBe(IDP_SLO);
    expect(response?.getElementsByTagNameNS(NS.saml, 'Issuer')[0]?.textContent).toBe(`${ISSUER}/saml/slo-idp/metadata`);
    expect(response?.getElementsByTagNameNS(NS.samlp, 'StatusCode')[0]?.getAttribute('Value')).toBe('urn:oasis:names:tc:SAML:2.0:status:Success');

    const signed = new URL(await sp.logoutResponseUrl(signingConnection, '_req-2', undefined, false));
    expect(signed.searchParams.get('SigAlg')).toBe(RSA_SHA256);
    const octets = signed.search.slice(1).split('&').filter((p) => !p.startsWith('Signature=')).join('&');
    expect(createVerify('RSA-SHA256').update(octets).verify(spSigning.certificatePem, signed.searchParams.get('Signature') ?? '', 'base64')).toBe(true);
    const failed = inflateRawSync(Buffer.from(signed.searchParams.get('SAMLResponse') ?? '', 'base64')).toString('utf8');
    expect(failed).toContain('urn:oasis:names:tc:SAML:2.0:status:Requester');
  });

  it('publishes a SingleLogoutService in the SP metadata only when the IdP has an SLO URL', () => {
    expect(sp.metadata(connection)).toMatch(new RegExp(`<SingleLogoutService [^>]*Location="${SLO}"`));
    expect(sp.metadata(noSlo)).not.toContain('SingleLogoutService');
  });
});
