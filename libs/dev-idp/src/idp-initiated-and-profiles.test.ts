// IdP-initiated SSO, per-SP attribute profiles (default, azure) and per-user attributes and
// authentication context, checked with an independent SP library (node-saml, not samlify).
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { SAML, ValidateInResponseTo } from '@node-saml/node-saml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '@broker/telemetry';
import { loadDevIdpConfig } from './config.ts';
import type { DevIdpConfig } from './config.ts';
import { createDevIdp } from './dev-idp.ts';
import { AZURE_CLAIMS, persistentId } from './saml.ts';

const DEMO_CONFIG = fileURLToPath(new URL('../../../config/demo/dev-idp.yaml', import.meta.url));
const PLAIN_SP = { entityId: 'http://sp.test/saml/plain/metadata', acsUrls: ['http://sp.test/saml/plain/acs', 'http://sp.test/saml/plain/acs-2'] };
const AZURE_SP = { entityId: 'http://sp.test/saml/azure/metadata', acsUrls: ['http://sp.test/saml/azure/acs'], attributeProfile: 'azure' as const };
const MFA = 'http://schemas.microsoft.com/claims/multipleauthn';
const NAMEID_PERSISTENT = 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent';

let server: Server;
let baseUrl: string;
let config: DevIdpConfig;

beforeAll(async () => {
  server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const demo = await loadDevIdpConfig(DEMO_CONFIG);
  config = {
    ...demo,
    baseUrl,
    users: [
      ...demo.users,
      {
        username: 'carol',
        password: 'carol-password',
        email: 'carol@acme.test',
        givenName: 'Carol',
        surname: 'Clark',
        groups: ['sales', 'emea'],
        attributes: { uid: 'c-1001', role: ['admin', 'auditor <&>'] },
        authnContextClassRef: MFA,
      },
    ],
    serviceProviders: [PLAIN_SP, AZURE_SP],
  };
  server.on('request', createDevIdp({ config, logger: createLogger({ service: 'dev-idp-test', level: 'silent' }) }));
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

/** node-saml as the SP `sp`; `solicited: false` for IdP-initiated responses (no request ID to check). */
function nodeSaml(sp: { entityId: string; acsUrls: string[] }, solicited = true): SAML {
  return new SAML({
    entryPoint: `${baseUrl}/sso`,
    issuer: sp.entityId,
    callbackUrl: sp.acsUrls[0] ?? '',
    idpCert: config.signing.certificatePem,
    idpIssuer: config.entityId,
    audience: sp.entityId,
    wantAssertionsSigned: true,
    wantAuthnResponseSigned: true,
    validateInResponseTo: solicited ? ValidateInResponseTo.always : ValidateInResponseTo.never,
  });
}

function hiddenField(html: string, name: string): string | undefined {
  const match = new RegExp(`name="${name}" value="([^"]*)"`).exec(html);
  const entities: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" };
  return match?.[1]?.replace(/&(amp|lt|gt|quot|#39);/g, (_m, e: string) => entities[e] ?? '');
}

/** Sign in on a login page; the auto-POST page's target, SAMLResponse (XML and base64) and RelayState. */
async function signInOn(loginPageHtml: string, username: string, password: string) {
  const pendingId = hiddenField(loginPageHtml, 'pendingId') ?? '';
  expect(pendingId).not.toBe('');
  const res = await fetch(`${baseUrl}/login`, { method: 'POST', body: new URLSearchParams({ pendingId, username, password }) });
  const html = await res.text();
  expect(res.status).toBe(200);
  const samlResponse = hiddenField(html, 'SAMLResponse') ?? '';
  return {
    action: /<form method="post" action="([^"]+)"/.exec(html)?.[1],
    samlResponse,
    xml: Buffer.from(samlResponse, 'base64').toString('utf8'),
    relayState: hiddenField(html, 'RelayState'),
  };
}

async function idpInitiated(query: Record<string, string>) {
  const res = await fetch(`${baseUrl}/idp-initiated?${new URLSearchParams(query).toString()}`);
  return { status: res.status, html: await res.text() };
}

/** An SP-initiated login through node-saml's AuthnRequest (HTTP-Redirect). */
async function spInitiated(saml: SAML, username: string, password: string) {
  const page = await fetch(await saml.getAuthorizeUrlAsync('', undefined, {}));
  expect(page.status).toBe(200);
  return signInOn(await page.text(), username, password);
}

describe('dev IdP: IdP-initiated SSO', () => {
  it('shows the login form, then posts an unsolicited signed response to the SP’s first ACS URL with the RelayState', async () => {
    const page = await idpInitiated({ sp: PLAIN_SP.entityId, RelayState: 'demo-native' });
    expect(page.status).toBe(200);
    expect(page.html).toContain(PLAIN_SP.entityId);
    expect(page.html).toContain('name="password"');

    const done = await signInOn(page.html, 'alice', 'alice-password');
    expect(done.action).toBe(PLAIN_SP.acsUrls[0]);
    expect(done.relayState).toBe('demo-native');
    // No InResponseTo anywhere: not on the Response, not on the SubjectConfirmationData.
    expect(done.xml).not.toContain('InResponseTo');
    expect(done.xml).toContain(`Recipient="${PLAIN_SP.acsUrls[0] ?? ''}"`);
    expect(done.xml).toContain(`Destination="${PLAIN_SP.acsUrls[0] ?? ''}"`);
    // Both signatures, as for SP-initiated logins.
    expect([...done.xml.matchAll(/<ds:SignatureValue>/g)]).toHaveLength(2);

    const { profile } = await nodeSaml(PLAIN_SP, false).validatePostResponseAsync({ SAMLResponse: done.samlResponse });
    expect(profile?.nameID).toBe('alice@acme.test');
    expect(profile?.['email']).toBe('alice@acme.test');
    expect(profile?.inResponseTo).toBeUndefined();
    // An SP that only takes answers to its own requests refuses it.
    await expect(nodeSaml(PLAIN_SP, true).validatePostResponseAsync({ SAMLResponse: done.samlResponse })).rejects.toThrow(/InResponseTo/);
  });

  it('sends no RelayState when none was given, and the login form cannot be used twice', async () => {
    const page = await idpInitiated({ sp: PLAIN_SP.entityId });
    const done = await signInOn(page.html, 'bob', 'bob-password');
    expect(done.relayState).toBeUndefined();
    expect(done.xml).not.toContain('InResponseTo');
    const again = await fetch(`${baseUrl}/login`, { method: 'POST', body: new URLSearchParams({ pendingId: hiddenField(page.html, 'pendingId') ?? '', username: 'bob', password: 'bob-password' }) });
    expect(again.status).toBe(400);
  });

  it('refuses an unknown or missing SP', async () => {
    const unknown = await idpInitiated({ sp: 'https://evil.example/metadata' });
    expect(unknown.status).toBe(400);
    expect(unknown.html).toContain('https://evil.example/metadata');
    expect(unknown.html).not.toContain('pendingId');
    const missing = await idpInitiated({});
    expect(missing.status).toBe(400);
    expect(missing.html).not.toContain('pendingId');
  });

  it('keeps InResponseTo on SP-initiated responses', async () => {
    const done = await spInitiated(nodeSaml(PLAIN_SP), 'alice', 'alice-password');
    expect([...done.xml.matchAll(/InResponseTo="_[^"]+"/g)]).toHaveLength(2);
  });
});

describe('dev IdP: attribute profiles and per-user attributes', () => {
  it('default profile: email NameID, email/givenName/surname/groups with basic NameFormat, the user’s own attributes and AuthnContextClassRef', async () => {
    const saml = nodeSaml(PLAIN_SP);
    const done = await spInitiated(saml, 'carol', 'carol-password');
    const { profile } = await saml.validatePostResponseAsync({ SAMLResponse: done.samlResponse });
    expect(profile?.nameID).toBe('carol@acme.test');
    expect(profile?.nameIDFormat).toBe('urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress');
    expect(profile?.['email']).toBe('carol@acme.test');
    expect(profile?.['givenName']).toBe('Carol');
    expect(profile?.['surname']).toBe('Clark');
    expect(profile?.['groups']).toEqual(['sales', 'emea']);
    expect(profile?.['uid']).toBe('c-1001');
    expect(profile?.['role']).toEqual(['admin', 'auditor <&>']);
    // Values are escaped, never markup.
    expect(done.xml).toContain('auditor &lt;&amp;&gt;');
    expect(done.xml).toContain(`<saml:AuthnContextClassRef>${MFA}</saml:AuthnContextClassRef>`);
    expect(done.xml).toContain('<saml:Attribute Name="uid" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic">');
  });

  it('default AuthnContextClassRef: PasswordProtectedTransport', async () => {
    const done = await spInitiated(nodeSaml(PLAIN_SP), 'alice', 'alice-password');
    expect(done.xml).toContain('<saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef>');
  });

  it('azure profile: Entra ID claim URIs and a persistent opaque NameID, stable per user and SP', async () => {
    const saml = nodeSaml(AZURE_SP);
    const first = await spInitiated(saml, 'alice', 'alice-password');
    const { profile } = await saml.validatePostResponseAsync({ SAMLResponse: first.samlResponse });
    expect(profile?.nameIDFormat).toBe(NAMEID_PERSISTENT);
    expect(profile?.nameID).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(profile?.nameID).not.toContain('alice');
    expect(profile?.nameID).toBe(persistentId(config.entityId, AZURE_SP.entityId, 'alice'));
    expect(profile?.[AZURE_CLAIMS.emailAddress]).toBe('alice@acme.test');
    expect(profile?.[AZURE_CLAIMS.givenName]).toBe('Alice');
    expect(profile?.[AZURE_CLAIMS.surname]).toBe('Anderson');
    expect(profile?.[AZURE_CLAIMS.name]).toBe('alice@acme.test');
    expect(profile?.[AZURE_CLAIMS.objectIdentifier]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    // None of the default profile's names, and no NameFormat (as Entra ID sends them).
    expect(profile?.['email']).toBeUndefined();
    expect(first.xml).not.toContain('NameFormat=');

    // The same user again (IdP-initiated this time): the same NameID and object id.
    const page = await idpInitiated({ sp: AZURE_SP.entityId });
    const second = await signInOn(page.html, 'alice', 'alice-password');
    const again = await nodeSaml(AZURE_SP, false).validatePostResponseAsync({ SAMLResponse: second.samlResponse });
    expect(again.profile?.nameID).toBe(profile?.nameID);
    expect(again.profile?.[AZURE_CLAIMS.objectIdentifier]).toBe(profile?.[AZURE_CLAIMS.objectIdentifier]);

    // Another user, or the same user at another SP: another NameID.
    const bob = await spInitiated(nodeSaml(AZURE_SP), 'bob', 'bob-password');
    const bobProfile = (await nodeSaml(AZURE_SP, false).validatePostResponseAsync({ SAMLResponse: bob.samlResponse })).profile;
    expect(bobProfile?.nameID).not.toBe(profile?.nameID);
    expect(bobProfile?.[AZURE_CLAIMS.groups]).toBe('engineering');
    expect(persistentId(config.entityId, PLAIN_SP.entityId, 'alice')).not.toBe(profile?.nameID);
  });

  it('azure profile with the user’s own attributes and authentication context', async () => {
    const saml = nodeSaml(AZURE_SP);
    const done = await spInitiated(saml, 'carol', 'carol-password');
    const { profile } = await saml.validatePostResponseAsync({ SAMLResponse: done.samlResponse });
    expect(profile?.[AZURE_CLAIMS.groups]).toEqual(['sales', 'emea']);
    expect(profile?.['uid']).toBe('c-1001');
    expect(done.xml).toContain(`<saml:AuthnContextClassRef>${MFA}</saml:AuthnContextClassRef>`);
  });
});
