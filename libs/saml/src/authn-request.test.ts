import { createVerify } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { inflateRawSync } from 'node:zlib';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ResolvedConnection } from '@broker/config';
import { createMemoryStore, keys } from '@broker/store';
import { interopConnection, TEST_KEYS } from './interop/support.ts';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createSamlServiceProvider } from './service-provider.ts';
import { NS, parseXml } from './xml.ts';

const fixture = (name: string) => readFileSync(fileURLToPath(new URL(`../../testing/fixtures/keys/${name}`, import.meta.url)), 'utf8');
const SP_SIGNING = { privateKey: fixture('sp-signing.key.pem'), certificate: fixture('sp-signing.cert.pem') };
const ISSUER = 'https://login.broker.test';
const MFA = 'http://schemas.microsoft.com/claims/multipleauthn';

const store = createMemoryStore();
const sp = createSamlServiceProvider({ issuer: ISSUER, store });

const connections: Record<string, ResolvedConnection> = {
  signedRedirect: {
    ...interopConnection({ id: 'signed-redirect', idpEntityId: 'https://idp.test' }),
    sp: { signing: SP_SIGNING, encryption: { privateKey: TEST_KEYS.spEncryptionKey, certificate: TEST_KEYS.spEncryptionCert } },
    authnRequest: { binding: 'redirect', sign: true, forceAuthn: true, requestedAuthnContext: { classRefs: [MFA], comparison: 'exact' } },
  },
  signedPost: {
    ...interopConnection({ id: 'signed-post', idpEntityId: 'https://idp.test' }),
    sp: { signing: SP_SIGNING },
    authnRequest: { binding: 'post', sign: true, forceAuthn: false },
  },
};

let base = '';
const server = express()
  .get('/login/:connection', async (req, res) => {
    const connection = connections[req.params.connection];
    if (!connection) return void res.status(404).end();
    await sp.sendToIdp(req, res, { connection, requestId: typeof req.query['id'] === 'string' ? req.query['id'] : '', relayState: 'relay-123' });
  })
  .listen(0, '127.0.0.1');

beforeAll(async () => {
  if (!server.listening) await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('AuthnRequests', () => {
  it('HTTP-Redirect: signed with the SP key (RSA-SHA256), ForceAuthn and the requested AuthnContext, ID saved for InResponseTo', async () => {
    const response = await fetch(`${base}/login/signedRedirect?id=_req1`, { redirect: 'manual' });
    expect(response.status).toBe(302);
    const location = new URL(response.headers.get('location') ?? '');
    expect(location.origin + location.pathname).toBe('https://idp.example.test/sso');
    expect(location.searchParams.get('RelayState')).toBe('relay-123');
    expect(location.searchParams.get('SigAlg')).toBe('http://www.w3.org/2001/04/xmldsig-more#rsa-sha256');
    // The redirect binding signs the query string: SAMLRequest, RelayState, SigAlg, in that order.
    const signed = location.search.slice(1).split('&').filter((p) => !p.startsWith('Signature=')).join('&');
    const verifier = createVerify('RSA-SHA256').update(signed);
    expect(verifier.verify(SP_SIGNING.certificate, location.searchParams.get('Signature') ?? '', 'base64')).toBe(true);

    const xml = inflateRawSync(Buffer.from(location.searchParams.get('SAMLRequest') ?? '', 'base64')).toString('utf8');
    const request = parseXml(xml).documentElement;
    expect(request?.getAttribute('ID')).toBe('_req1');
    expect(request?.getAttribute('ForceAuthn')).toBe('true');
    expect(request?.getAttribute('AssertionConsumerServiceURL')).toBe(`${ISSUER}/saml/signed-redirect/acs`);
    const classRefs = Array.from(request?.getElementsByTagNameNS(NS.saml, 'AuthnContextClassRef') ?? []).map((el) => el.textContent);
    expect(classRefs).toEqual([MFA]);
    expect(await store.get(keys.authnRequest('signed-redirect', '_req1'))).not.toBeNull();
  });

  it('HTTP-POST: an auto-submitting form with a nonce, carrying an XML-signed AuthnRequest', async () => {
    const response = await fetch(`${base}/login/signedPost?id=_req2`);
    expect(response.status).toBe(200);
    const csp = response.headers.get('content-security-policy') ?? '';
    const nonce = /'nonce-([^']+)'/.exec(csp)?.[1];
    expect(nonce).toBeTruthy();
    expect(csp).toContain('form-action https://idp.example.test');
    const html = await response.text();
    expect(html).toContain('action="https://idp.example.test/sso"');
    expect(html).toContain(`<script nonce="${nonce}">`);
    const encoded = /name="SAMLRequest" value="([^"]+)"/.exec(html)?.[1] ?? '';
    const xml = Buffer.from(encoded, 'base64').toString('utf8');
    const doc = parseXml(xml);
    expect(doc.documentElement?.getAttribute('ID')).toBe('_req2');
    const signature = Array.from(doc.getElementsByTagNameNS(NS.ds, 'SignatureMethod'))[0];
    expect(signature?.getAttribute('Algorithm')).toBe('http://www.w3.org/2001/04/xmldsig-more#rsa-sha256');
    expect(html).toContain('name="RelayState" value="relay-123"');
  });
});

describe('SP metadata', () => {
  it('publishes the entity ID, the ACS URL, the NameID format and the signing and encryption certificates', () => {
    const xml = sp.metadata(connections.signedRedirect as ResolvedConnection);
    const doc = parseXml(xml);
    expect(doc.documentElement?.getAttribute('entityID')).toBe(`${ISSUER}/saml/signed-redirect/metadata`);
    const acs = Array.from(doc.getElementsByTagNameNS(NS.md, 'AssertionConsumerService'))[0];
    expect(acs?.getAttribute('Location')).toBe(`${ISSUER}/saml/signed-redirect/acs`);
    expect(acs?.getAttribute('Binding')).toBe('urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST');
    const uses = Array.from(doc.getElementsByTagNameNS(NS.md, 'KeyDescriptor')).map((kd) => kd.getAttribute('use'));
    expect(uses.sort()).toEqual(['encryption', 'signing']);
    const body = (pem: string) => pem.replace(/-----[A-Z ]+-----|\s+/g, '');
    expect(xml.replace(/\s+/g, '')).toContain(body(SP_SIGNING.certificate));
    expect(xml.replace(/\s+/g, '')).toContain(body(TEST_KEYS.spEncryptionCert));
  });
});
