// authn-service over real HTTP (express on a free port, fetch as the client): rejected SAML
// responses land in the connection's diagnostics, with the explanation of each code and without
// personal data, behind the admin API token.
import { createHash, X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import express from 'express';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfigFile, type ResolvedConfig, type ResolvedConnection, type ResolvedTenant } from '@broker/config';
import { errorHandler, requestId } from '@broker/http';
import { createClientRegistry, createDirectory, createLoginHandoff, createUserRepository, importTenants, type LoginHandoff } from '@broker/identity';
import { createSamlDiagnostics, createSamlServiceProvider, explainSamlCode, spUrls, type SamlDiagnostics, type SamlServiceProvider } from '@broker/saml';
import { createMemoryStore, type Store } from '@broker/store';
import { createLogger } from '@broker/telemetry';
import { createAuthnRouter } from './authn-service.ts';

const key = (name: string): string => readFileSync(fileURLToPath(new URL(`../../testing/fixtures/keys/${name}`, import.meta.url)), 'utf8');
const IDP_CERT = key('idp-a.cert.pem');
const ATTACKER_CERT = key('attacker.cert.pem');
const fingerprint = (pem: string): string => createHash('sha256').update(new X509Certificate(pem).raw).digest('hex');
const base64Body = (pem: string): string => pem.replace(/-----[A-Z ]+-----|\s+/g, '');

const ISSUER = 'https://login.example.test';
const CONNECTION = 'acme-dev-idp';
const IDP_ENTITY_ID = 'https://idp.example.test/metadata';
const TOKEN = 'admin-token-for-tests-4f1c9a';
const { acsUrl: ACS_URL, entityId: SP_ENTITY_ID } = spUrls(ISSUER, CONNECTION);
/** What a response carries about the person: none of it may reach diagnostics. */
const PERSONAL = ['alice@acme.test', 'Alice', 'Anderson', 'NameID', 'AttributeValue'];

interface LogLine {
  msg: string;
  requestId?: string;
  code?: string;
  [key: string]: unknown;
}

const demo = loadConfigFile(fileURLToPath(new URL('../../../config/demo/broker.yaml', import.meta.url)), { env: {} });
const demoTenant = demo.tenants[0] as ResolvedTenant;
const connection: ResolvedConnection = {
  ...(demoTenant.connections[0] as ResolvedConnection),
  id: CONNECTION,
  idp: { entityId: IDP_ENTITY_ID, ssoUrl: 'https://idp.example.test/sso', certificates: [IDP_CERT] },
  // The hand-made responses below carry one (unverifiable) signature, on the Response.
  wantAssertionsSigned: false,
  wantResponseSigned: true,
};
const configWith = (apiToken: string | undefined): ResolvedConfig => ({
  ...demo,
  issuer: ISSUER,
  admin: { apiToken },
  tenants: [{ ...demoTenant, connections: [connection] }],
});

/**
 * A SAMLResponse about Alice with a Response signature that preflight reads (algorithms,
 * placement, KeyInfo certificate) but that is never valid: enough for the checks before the
 * cryptography, which are the ones these tests trigger.
 */
function badResponse(options: { requestId: string; keyInfoCert?: string; destination?: string }): string {
  const now = new Date().toISOString();
  const keyInfo = options.keyInfoCert ? `<ds:KeyInfo><ds:X509Data><ds:X509Certificate>${base64Body(options.keyInfoCert)}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>` : '';
  const xml = `<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_resp1" Version="2.0" IssueInstant="${now}" Destination="${options.destination ?? ACS_URL}" InResponseTo="${options.requestId}">
<saml:Issuer>${IDP_ENTITY_ID}</saml:Issuer>
<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference URI="#_resp1"><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue>AAAA</ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue>AAAA</ds:SignatureValue>${keyInfo}</ds:Signature>
<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>
<saml:Assertion ID="_assert1" Version="2.0" IssueInstant="${now}">
<saml:Issuer>${IDP_ENTITY_ID}</saml:Issuer>
<saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">alice@acme.test</saml:NameID>
<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData Recipient="${ACS_URL}" InResponseTo="${options.requestId}" NotOnOrAfter="${new Date(Date.now() + 300_000).toISOString()}"/></saml:SubjectConfirmation></saml:Subject>
<saml:Conditions><saml:AudienceRestriction><saml:Audience>${SP_ENTITY_ID}</saml:Audience></saml:AudienceRestriction></saml:Conditions>
<saml:AttributeStatement><saml:Attribute Name="givenName"><saml:AttributeValue>Alice</saml:AttributeValue></saml:Attribute><saml:Attribute Name="surname"><saml:AttributeValue>Anderson</saml:AttributeValue></saml:Attribute></saml:AttributeStatement>
</saml:Assertion>
</samlp:Response>`;
  return Buffer.from(xml, 'utf8').toString('base64');
}

interface Harness {
  base: string;
  store: Store;
  handoff: LoginHandoff;
  serviceProvider: SamlServiceProvider;
  lines: LogLine[];
  close: () => Promise<void>;
}

/** authn-service alone, as the broker mounts it, on a free port. */
async function startAuthn(options: { apiToken?: string | undefined; diagnostics?: (store: Store) => SamlDiagnostics; serviceProvider?: (real: SamlServiceProvider) => SamlServiceProvider } = {}): Promise<Harness> {
  const config = configWith('apiToken' in options ? options.apiToken : TOKEN);
  const store = createMemoryStore();
  const lines: LogLine[] = [];
  const logger = createLogger({ service: 'authn-test', level: 'info', destination: { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) } });
  await importTenants(store, config.tenants);
  const handoff = createLoginHandoff(store, 600);
  const real = createSamlServiceProvider({ issuer: ISSUER, store });
  const serviceProvider = options.serviceProvider?.(real) ?? real;
  const app = express();
  app.use(requestId());
  app.use(
    createAuthnRouter({
      config,
      directory: createDirectory(store),
      clients: createClientRegistry(store, { development: true }),
      handoff,
      users: createUserRepository(store),
      endSessions: () => Promise.resolve(0),
      serviceProvider,
      diagnostics: options.diagnostics?.(store) ?? createSamlDiagnostics({ store }),
      logger,
    }),
  );
  app.use((_req, res) => {
    res.status(404).type('text/plain').send('not found');
  });
  app.use(errorHandler(logger));
  const server: Server = createServer(app).listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    store,
    handoff,
    serviceProvider,
    lines,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await store.close();
    },
  };
}

/** Start a login the way GET /login does: an AuthnRequest ID and its RelayState. */
async function pendingLogin(h: Harness): Promise<{ requestId: string; relayState: string }> {
  const requestId = h.serviceProvider.newRequestId();
  const relayState = await h.handoff.createRelayState({ kind: 'interaction', id: 'interaction-1', tenantId: 'acme', clientId: 'demo-native', connectionId: CONNECTION, requestId });
  return { requestId, relayState };
}

const postAcs = (h: Harness, fields: Record<string, string>, connectionId = CONNECTION) =>
  fetch(`${h.base}/saml/${connectionId}/acs`, { method: 'POST', body: new URLSearchParams(fields), redirect: 'manual' });

const diagnostics = (h: Harness, authorization?: string, connectionId = CONNECTION) =>
  fetch(`${h.base}/saml/${connectionId}/diagnostics`, authorization === undefined ? {} : { headers: { authorization } });

interface DiagnosticsBody {
  connection: { id: string; spEntityId: string; acsUrl: string; idpEntityId: string };
  certificates: Array<{ fingerprint: string; subject: string; status: string }>;
  warnings: Array<{ code: string; message: string }>;
  recentRejections: Array<{ at: string; code: string; category: string; problem: string; fix: string; detail: Record<string, unknown> }>;
}

describe('GET /saml/:connectionId/diagnostics', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startAuthn();
  });
  afterAll(() => h.close());
  beforeEach(() => {
    h.lines.length = 0;
  });

  it('answers 401 with a JSON error and WWW-Authenticate without the right bearer token', async () => {
    for (const authorization of [undefined, `Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(0, -1)}`, `Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}`, TOKEN, 'Bearer ']) {
      const response = await diagnostics(h, authorization);
      expect(response.status, String(authorization)).toBe(401);
      expect(response.headers.get('content-type')).toMatch(/^application\/json/);
      expect(response.headers.get('www-authenticate')).toMatch(/^Bearer realm="broker-admin"/);
      expect(response.headers.get('cache-control')).toBe('no-store');
      const body = (await response.json()) as { error: string; message: string };
      expect(body.error).toBe('unauthorized');
      expect(JSON.stringify(body)).not.toContain(CONNECTION);
    }
    expect((await diagnostics(h, `Bearer wrong`)).headers.get('www-authenticate')).toBe('Bearer realm="broker-admin", error="invalid_token"');
    expect(h.lines.filter((line) => line.code === 'admin.unauthorized')).toHaveLength(7);
  });

  it('shows a rejected response with its problem and fix, and nothing about the person', async () => {
    const { requestId, relayState } = await pendingLogin(h);
    const samlResponse = badResponse({ requestId, keyInfoCert: ATTACKER_CERT });
    const refused = await postAcs(h, { SAMLResponse: samlResponse, RelayState: relayState });
    expect(refused.status).toBe(400);
    const page = await refused.text();
    expect(page).not.toContain('saml.certificate_untrusted'); // the person's page stays generic

    const response = await diagnostics(h, `Bearer ${TOKEN}`);
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    const text = await response.text();
    const body = JSON.parse(text) as DiagnosticsBody;
    expect(body.connection).toEqual({
      id: CONNECTION,
      spEntityId: SP_ENTITY_ID,
      acsUrl: ACS_URL,
      spMetadataUrl: SP_ENTITY_ID,
      loginUrl: `${ISSUER}/login/sso?orgExternalId=acme-org&idp_hint=${CONNECTION}`,
      idpEntityId: IDP_ENTITY_ID,
      idpSsoUrl: expect.any(String) as unknown,
      idpInitiated: false,
    });
    expect(body.certificates).toEqual([expect.objectContaining({ fingerprint: fingerprint(IDP_CERT), subject: 'CN=test-idp-a', status: 'valid' })]);
    expect(body.warnings).toEqual([]);

    const [entry] = body.recentRejections;
    const explanation = explainSamlCode('saml.certificate_untrusted');
    expect(entry).toMatchObject({ code: 'saml.certificate_untrusted', category: 'Certificate expired or rotated', problem: explanation.problem, fix: explanation.fix });
    expect(entry?.problem).toMatch(/certificate our connection does not trust/);
    expect(entry?.fix).toMatch(/idp\.certificates/);
    expect(Date.now() - Date.parse(entry?.at ?? '')).toBeLessThan(60_000);
    expect(entry?.detail).toMatchObject({
      receivedFingerprints: [fingerprint(ATTACKER_CERT)],
      configuredFingerprints: [fingerprint(IDP_CERT)],
      expectedIssuer: IDP_ENTITY_ID,
      receivedIssuer: IDP_ENTITY_ID,
      expectedAudience: SP_ENTITY_ID,
      expectedDestination: ACS_URL,
    });
    for (const personal of [...PERSONAL, samlResponse.slice(0, 40), relayState, requestId]) expect(text).not.toContain(personal);
  });

  it('records the refusals before validation (RelayState missing or unknown) and the destination of a misrouted response', async () => {
    const { requestId, relayState } = await pendingLogin(h);
    expect((await postAcs(h, { SAMLResponse: badResponse({ requestId }) })).status).toBe(400);
    expect((await postAcs(h, { SAMLResponse: badResponse({ requestId }), RelayState: 'a'.repeat(43) })).status).toBe(400);
    const misrouted = badResponse({ requestId, destination: 'https://login.example.test/saml/other/acs' });
    expect((await postAcs(h, { SAMLResponse: misrouted, RelayState: relayState })).status).toBe(400);

    const body = (await (await diagnostics(h, `Bearer ${TOKEN}`)).json()) as DiagnosticsBody;
    const [destination, unknown, missing] = body.recentRejections;
    expect(destination).toMatchObject({ code: 'saml.destination_mismatch', category: 'ACS URL wrong', detail: { expectedDestination: ACS_URL, receivedDestination: 'https://login.example.test/saml/other/acs' } });
    expect(destination?.fix).toMatch(/Reply URL/);
    expect(unknown).toMatchObject({ code: 'saml.relay_state_unknown', detail: {} });
    expect(missing).toMatchObject({ code: 'saml.unsolicited', detail: {} });
    expect(missing?.problem).toMatch(/IdP-initiated/);
  });

  it('answers 404 JSON for an unknown connection, only after the token check', async () => {
    expect((await diagnostics(h, undefined, 'nope')).status).toBe(401);
    const response = await diagnostics(h, `Bearer ${TOKEN}`, 'nope');
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ error: 'not_found' });
  });
});

describe('diagnostics edge cases', () => {
  it('does not exist (404) when no admin token is configured', async () => {
    const h = await startAuthn({ apiToken: undefined });
    try {
      for (const authorization of [undefined, `Bearer ${TOKEN}`, 'Bearer undefined', 'Bearer ']) {
        const response = await diagnostics(h, authorization);
        expect(response.status).toBe(404);
        expect(response.headers.get('www-authenticate')).toBeNull();
      }
    } finally {
      await h.close();
    }
  });

  it('gives the person the same answer when diagnostics cannot be recorded, and logs the failure', async () => {
    const broken: SamlDiagnostics = { record: () => Promise.reject(new Error('store unavailable')), list: () => Promise.resolve([]) };
    const h = await startAuthn({ diagnostics: () => broken });
    const working = await startAuthn();
    try {
      const answers = [];
      for (const harness of [h, working]) {
        const { requestId, relayState } = await pendingLogin(harness);
        const response = await postAcs(harness, { SAMLResponse: badResponse({ requestId, keyInfoCert: ATTACKER_CERT }), RelayState: relayState });
        answers.push({ status: response.status, type: response.headers.get('content-type'), body: (await response.text()).replace(/<code>[^<]+<\/code>/, '') });
      }
      expect(answers[0]).toEqual(answers[1]);
      expect(answers[0]?.status).toBe(400);
      expect(h.lines.find((line) => line.msg === 'could not record SAML diagnostics')).toMatchObject({ connectionId: CONNECTION, code: 'saml.certificate_untrusted', err: 'store unavailable' });
      expect(h.lines.find((line) => line.msg === 'rejected: saml.certificate_untrusted')).toBeDefined();
    } finally {
      await h.close();
      await working.close();
    }
  });

  it('notes an accepted login without an email address (missing email claim)', async () => {
    const h = await startAuthn({
      serviceProvider: (real) => ({
        ...real,
        validateResponse: () => Promise.resolve({ assertionId: '_a1', nameId: '00u1abc', issuer: IDP_ENTITY_ID, usedSha1: false, attributes: { givenName: 'Alice' } }),
      }),
    });
    try {
      const { relayState } = await pendingLogin(h);
      const accepted = await postAcs(h, { SAMLResponse: 'unused by the stub', RelayState: relayState });
      expect(accepted.status).toBe(303);
      const body = (await (await diagnostics(h, `Bearer ${TOKEN}`)).json()) as DiagnosticsBody;
      expect(body.recentRejections.map((e) => e.code)).toEqual(['saml.email_missing']);
      expect(body.recentRejections[0]).toMatchObject({ category: 'Missing email claim (or user identifier)', detail: {} });
      expect(body.recentRejections[0]?.fix).toMatch(/attributes\.email/);
      expect(JSON.stringify(body)).not.toContain('00u1abc');
    } finally {
      await h.close();
    }
  });
});
