// Drives the dev IdP with an independent SP library (node-saml, not samlify): if node-saml
// accepts the signed responses, real SPs such as the broker should too.
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { SAML, ValidateInResponseTo } from '@node-saml/node-saml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '@broker/telemetry';
import { loadDevIdpConfig } from './config.ts';
import type { DevIdpConfig } from './config.ts';
import { createDevIdp } from './dev-idp.ts';

const DEMO_CONFIG = fileURLToPath(new URL('../../../config/demo/dev-idp.yaml', import.meta.url));
const SP_ENTITY_ID = 'http://localhost:3000/saml/acme-dev-idp/metadata';
const ACS_URL = 'http://localhost:3000/saml/acme-dev-idp/acs';
const RSA_SHA256 = 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256';
const SHA256 = 'http://www.w3.org/2001/04/xmlenc#sha256';

let server: Server;
let baseUrl: string;
let config: DevIdpConfig;

beforeAll(async () => {
  // Listen first so the IdP's baseUrl (and so its metadata) names the real random port.
  server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  config = { ...(await loadDevIdpConfig(DEMO_CONFIG)), baseUrl };
  server.on('request', createDevIdp({ config, logger: createLogger({ service: 'dev-idp-test' }) }));
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

function sp(overrides: { issuer?: string; callbackUrl?: string } = {}): SAML {
  return new SAML({
    entryPoint: `${baseUrl}/sso`,
    issuer: overrides.issuer ?? SP_ENTITY_ID,
    callbackUrl: overrides.callbackUrl ?? ACS_URL,
    idpCert: config.signing.certificatePem,
    idpIssuer: config.entityId,
    audience: SP_ENTITY_ID,
    wantAssertionsSigned: true,
    wantAuthnResponseSigned: true,
    // node-saml then checks InResponseTo against the request IDs it issued.
    validateInResponseTo: ValidateInResponseTo.always,
  });
}

function decodeHtml(text: string): string {
  const entities: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" };
  return text.replace(/&(amp|lt|gt|quot|#39);/g, (_m, name: string) => entities[name] ?? '');
}

function hiddenField(html: string, name: string): string | undefined {
  const match = new RegExp(`name="${name}" value="([^"]*)"`).exec(html);
  return match?.[1] === undefined ? undefined : decodeHtml(match[1]);
}

/** Follows the SP's redirect to the IdP and returns the login page. */
async function startLogin(saml: SAML, relayState = 'rs-1') {
  const res = await fetch(await saml.getAuthorizeUrlAsync(relayState, undefined, {}));
  return { status: res.status, html: await res.text() };
}

async function submitLogin(pendingId: string, username: string, password: string) {
  const res = await fetch(`${baseUrl}/login`, {
    method: 'POST',
    body: new URLSearchParams({ pendingId, username, password }),
  });
  return { status: res.status, html: await res.text() };
}

async function pendingIdFor(saml: SAML, relayState?: string): Promise<string> {
  const page = await startLogin(saml, relayState);
  expect(page.status).toBe(200);
  const id = hiddenField(page.html, 'pendingId');
  expect(id).toBeTruthy();
  return id ?? '';
}

describe('dev IdP', () => {
  it('serves metadata with the signing cert and both SSO bindings', async () => {
    const res = await fetch(`${baseUrl}/metadata`);
    const xml = await res.text();
    expect(res.status).toBe(200);
    expect(xml).toContain(`entityID="${config.entityId}"`);
    const certBody = config.signing.certificatePem.replace(/-----[^-]+-----|\s/g, '');
    expect(xml).toContain(certBody);
    expect(xml).toContain(`Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="${baseUrl}/sso"`);
    expect(xml).toContain(`Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="${baseUrl}/sso"`);
  });

  it('answers /healthz', async () => {
    const res = await fetch(`${baseUrl}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('ok');
  });

  it('logs alice in over HTTP-Redirect with a response node-saml accepts', async () => {
    const saml = sp();
    const relayState = 'state "with" <markup> & more';
    const page = await startLogin(saml, relayState);
    expect(page.html).toContain(SP_ENTITY_ID);
    const pendingId = hiddenField(page.html, 'pendingId') ?? '';

    const done = await submitLogin(pendingId, 'alice', 'alice-password');
    expect(done.status).toBe(200);
    expect(done.html).toContain(`action="${ACS_URL}"`);
    expect(done.html).toContain('document.forms[0].submit()');
    expect(hiddenField(done.html, 'RelayState')).toBe(relayState);
    const samlResponse = hiddenField(done.html, 'SAMLResponse') ?? '';

    const { profile } = await saml.validatePostResponseAsync({ SAMLResponse: samlResponse });
    expect(profile?.nameID).toBe('alice@acme.test');
    expect(profile?.nameIDFormat).toBe('urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress');
    expect(profile?.issuer).toBe(config.entityId);
    expect(profile?.['email']).toBe('alice@acme.test');
    expect(profile?.['givenName']).toBe('Alice');
    expect(profile?.['surname']).toBe('Anderson');
    expect(profile?.['groups']).toBeUndefined();

    // Two signatures (Assertion and Response), both RSA-SHA256 over SHA-256 digests.
    const xml = Buffer.from(samlResponse, 'base64').toString('utf8');
    expect([...xml.matchAll(/SignatureMethod Algorithm="([^"]+)"/g)].map((m) => m[1])).toEqual([RSA_SHA256, RSA_SHA256]);
    expect([...xml.matchAll(/DigestMethod Algorithm="([^"]+)"/g)].map((m) => m[1])).toEqual([SHA256, SHA256]);
    expect(xml).toContain('urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport');
    expect(xml).toContain(`Recipient="${ACS_URL}"`);
    expect(xml).toContain(`Destination="${ACS_URL}"`);

    // The check is real: the same response with the user swapped no longer validates.
    const forged = Buffer.from(xml.replaceAll('alice@acme.test', 'bob@acme.test')).toString('base64');
    await expect(sp().validatePostResponseAsync({ SAMLResponse: forged })).rejects.toThrow();
  });

  it('accepts the HTTP-POST binding and sends groups when the user has them', async () => {
    const saml = sp();
    // node-saml builds Redirect URLs; re-encode its request for the POST binding (plain base64).
    const url = new URL(await saml.getAuthorizeUrlAsync('', undefined, {}));
    const xml = inflateRawSync(Buffer.from(url.searchParams.get('SAMLRequest') ?? '', 'base64'));
    const res = await fetch(`${baseUrl}/sso`, {
      method: 'POST',
      body: new URLSearchParams({ SAMLRequest: xml.toString('base64') }),
    });
    expect(res.status).toBe(200);
    const pendingId = hiddenField(await res.text(), 'pendingId') ?? '';

    const done = await submitLogin(pendingId, 'bob', 'bob-password');
    expect(hiddenField(done.html, 'RelayState')).toBeUndefined();
    const { profile } = await saml.validatePostResponseAsync({ SAMLResponse: hiddenField(done.html, 'SAMLResponse') ?? '' });
    expect(profile?.nameID).toBe('bob@acme.test');
    expect(profile?.['groups']).toBe('engineering');
  });

  it('refuses a wrong password with 401 and lets the same form retry', async () => {
    const pendingId = await pendingIdFor(sp());
    const wrong = await submitLogin(pendingId, 'alice', 'not-the-password');
    expect(wrong.status).toBe(401);
    expect(wrong.html).toContain('Wrong username or password');
    expect(wrong.html).not.toContain('SAMLResponse');
    expect(hiddenField(wrong.html, 'pendingId')).toBe(pendingId);

    const unknownUser = await submitLogin(pendingId, 'mallory', 'alice-password');
    expect(unknownUser.status).toBe(401);

    const right = await submitLogin(pendingId, 'alice', 'alice-password');
    expect(right.status).toBe(200);
    expect(hiddenField(right.html, 'SAMLResponse')).toBeTruthy();
  });

  it('refuses a pending request id the second time', async () => {
    const pendingId = await pendingIdFor(sp());
    expect((await submitLogin(pendingId, 'alice', 'alice-password')).status).toBe(200);
    const again = await submitLogin(pendingId, 'alice', 'alice-password');
    expect(again.status).toBe(400);
    expect(again.html).not.toContain('SAMLResponse');
  });

  it('refuses an SP that is not on the allow-list', async () => {
    const page = await startLogin(sp({ issuer: 'https://evil.example/metadata' }));
    expect(page.status).toBe(400);
    expect(page.html).toContain('https://evil.example/metadata');
    expect(page.html).not.toContain('pendingId');
  });

  it('refuses an ACS URL the SP is not configured with', async () => {
    const page = await startLogin(sp({ callbackUrl: 'https://evil.example/acs' }));
    expect(page.status).toBe(400);
    expect(page.html).not.toContain('pendingId');
  });

  it('uses the first configured ACS URL when the request names none', async () => {
    const request = `<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_no-acs" Version="2.0" IssueInstant="${new Date().toISOString()}"><saml:Issuer>${SP_ENTITY_ID}</saml:Issuer></samlp:AuthnRequest>`;
    const query = new URLSearchParams({ SAMLRequest: deflateRawSync(request).toString('base64') });
    const page = await (await fetch(`${baseUrl}/sso?${query.toString()}`)).text();
    const done = await submitLogin(hiddenField(page, 'pendingId') ?? '', 'alice', 'alice-password');
    expect(done.html).toContain(`action="${ACS_URL}"`);
    expect(Buffer.from(hiddenField(done.html, 'SAMLResponse') ?? '', 'base64').toString()).toContain('InResponseTo="_no-acs"');
  });

  it('refuses garbage instead of a SAMLRequest', async () => {
    expect((await fetch(`${baseUrl}/sso?SAMLRequest=bm90LXhtbA`)).status).toBe(400);
    expect((await fetch(`${baseUrl}/sso`)).status).toBe(400);
  });
});
