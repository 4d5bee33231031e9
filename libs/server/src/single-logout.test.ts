// In-process integration on a real Redis: IdP-initiated SAML Single Logout. Alice signs in
// through the demo dev IdP (the broker holds an oidc-provider Session for her); the IdP then
// sends a signed LogoutRequest (HTTP-Redirect binding) for her NameID to /saml/<id>/slo. The
// broker ends her sessions and answers with a Success LogoutResponse at the IdP's SLO URL. A
// forged LogoutRequest (unsigned, or signed by another key) gets the plain 400 page and her
// session stays.
import { createSign, randomUUID } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys } from '@broker/store';
import { redisTestSupport } from '@broker/store/testing';
import { TestBrowser, fixtureKeyPair, parseForm } from '@broker/testing';
import { authorizeUrl, expectRefusedPage, keysUnder, type LogLine } from './test/broker-test-support.ts';
import { startDemoBroker, type DemoBroker } from './test/demo-broker.ts';

const { redisAvailable, redisTestUrl, requireRedisInCi, skipRedisTests } = redisTestSupport;
const url = redisTestUrl();
const available = await redisAvailable(url);

const CONNECTION = 'acme-dev-idp';
const CLIENT = { id: 'demo-backend', redirectUri: 'http://localhost:8080/callback' };
const ALICE = { username: 'alice', password: 'alice-password', email: 'alice@acme.test' };
const RSA_SHA256 = 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256';
const SAMLP = 'urn:oasis:names:tc:SAML:2.0:protocol';
const SAML = 'urn:oasis:names:tc:SAML:2.0:assertion';

describe.skipIf(skipRedisTests(available, url))('broker on Redis: IdP-initiated SAML Single Logout', () => {
  const prefix = `test:slo:${randomUUID()}:`;
  let lines: LogLine[] = [];
  let harness: DemoBroker | undefined;
  let admin: Redis | undefined;
  let issuer = '';
  let idpBase = '';
  let idpKey = '';

  beforeAll(async () => {
    requireRedisInCi(available, url);
    // The IdP's SLO URL turns the connection's SLO endpoint on (and the SP metadata's SingleLogoutService).
    harness = await startDemoBroker({ redisUrl: url, prefix, connection: (connection, base) => ({ ...connection, idp: { ...connection.idp, sloUrl: `${base}/slo` } }) });
    ({ lines, admin, issuer, idpBase } = harness);
    idpKey = harness.idpConfig.signing.privateKeyPem;
  });

  afterAll(async () => {
    await harness?.close();
  });

  const diagnosticsPrefix = keys.samlDiagnostics('');
  const snapshot = async (): Promise<Set<string>> => {
    if (!admin) throw new Error('no Redis connection');
    return new Set([...(await keysUnder(admin, prefix))].filter((key) => !key.startsWith(diagnosticsPrefix)));
  };

  /** The oidc-provider Session keys whose payload names `accountId`. */
  const sessionsOf = async (accountId: string): Promise<string[]> => {
    if (!admin) throw new Error('no Redis connection');
    const found: string[] = [];
    for (const key of await snapshot()) {
      if (!key.startsWith('oidc:Session:')) continue;
      const payload = JSON.parse((await admin.get(`${prefix}${key}`)) ?? '{}') as { accountId?: string };
      if (payload.accountId === accountId) found.push(key);
    }
    return found;
  };

  /** Sign alice in (the whole code flow), returning her broker user id and the NameID the IdP asserted. */
  async function signInAlice(): Promise<{ userId: string; nameId: string }> {
    const browser = new TestBrowser();
    const start = await browser.get(authorizeUrl(issuer, CLIENT, { tenant: 'acme' }));
    const toIdp = await browser.follow(start, (location) => location.startsWith(idpBase));
    const loginPage = await browser.get(toIdp.location ?? '');
    const autoPost = await browser.submit(loginPage, { username: ALICE.username, password: ALICE.password });
    const form = parseForm(autoPost.body, autoPost.url);
    const xml = Buffer.from(form.fields['SAMLResponse'] ?? '', 'base64').toString('utf8');
    const nameId = /<saml:NameID[^>]*>([^<]+)<\/saml:NameID>/.exec(xml)?.[1] ?? '';
    const accepted = await browser.post(form.action, form.fields);
    expect(accepted.status).toBe(303);
    const done = await browser.follow(accepted, (location) => location.startsWith(CLIENT.redirectUri));
    expect(done.location).toMatch(new RegExp(`^${CLIENT.redirectUri}\\?code=`));
    const userId = (await admin?.get(`${prefix}${keys.userByIdentifier('acme', 'federationId', nameId)}`)) ?? '';
    expect(userId).not.toBe('');
    return { userId, nameId };
  }

  /** The IdP's LogoutRequest for `nameId` in the HTTP-Redirect binding, signed with `key` (none: unsigned). */
  function logoutRequestUrl(nameId: string, key: string | null, id = `_slo${randomUUID()}`): string {
    const xml =
      `<samlp:LogoutRequest xmlns:samlp="${SAMLP}" xmlns:saml="${SAML}" ID="${id}" Version="2.0" IssueInstant="${new Date().toISOString()}" Destination="${issuer}/saml/${CONNECTION}/slo" NotOnOrAfter="${new Date(Date.now() + 120_000).toISOString()}">` +
      `<saml:Issuer>${idpBase}/metadata</saml:Issuer><saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">${nameId}</saml:NameID>` +
      `<samlp:SessionIndex>_idp-session</samlp:SessionIndex></samlp:LogoutRequest>`;
    const parts = [`SAMLRequest=${encodeURIComponent(deflateRawSync(Buffer.from(xml, 'utf8')).toString('base64'))}`, `RelayState=${encodeURIComponent('idp-relay')}`];
    if (key === null) return `${issuer}/saml/${CONNECTION}/slo?${parts.join('&')}`;
    parts.push(`SigAlg=${encodeURIComponent(RSA_SHA256)}`);
    const signature = createSign('RSA-SHA256').update(parts.join('&')).sign(key, 'base64');
    return `${issuer}/saml/${CONNECTION}/slo?${parts.join('&')}&Signature=${encodeURIComponent(signature)}`;
  }

  it('refuses a forged LogoutRequest (unsigned, or signed by another key) and keeps the session', async () => {
    const { userId, nameId } = await signInAlice();
    const sessions = await sessionsOf(userId);
    expect(sessions.length).toBeGreaterThan(0);
    for (const [key, code] of [
      [null, 'saml.logout_unsigned'],
      [fixtureKeyPair('attacker').privateKeyPem, 'saml.logout_invalid_signature'],
    ] as const) {
      const before = await snapshot();
      const page = await new TestBrowser().get(logoutRequestUrl(nameId, key));
      await expectRefusedPage({ snapshot, lines }, page, { status: 400, code, before, hidden: [ALICE.email, 'signature'] });
      expect(await sessionsOf(userId)).toEqual(sessions);
    }
  });

  it("the IdP's signed LogoutRequest ends alice's broker sessions and gets a Success LogoutResponse", async () => {
    const { userId, nameId } = await signInAlice();
    expect((await sessionsOf(userId)).length).toBeGreaterThan(0);

    const page = await new TestBrowser().get(logoutRequestUrl(nameId, idpKey, '_slo-ok'));
    expect(page.status, page.body).toBe(302);
    const location = new URL(page.location ?? '');
    expect(location.origin + location.pathname).toBe(`${idpBase}/slo`);
    expect(location.searchParams.get('RelayState')).toBe('idp-relay');
    const response = inflateRawSync(Buffer.from(location.searchParams.get('SAMLResponse') ?? '', 'base64')).toString('utf8');
    expect(response).toMatch(/<samlp:LogoutResponse\b[^>]*InResponseTo="_slo-ok"/);
    expect(response).toMatch(/<samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/);

    expect(await sessionsOf(userId)).toEqual([]);
    expect([...(await snapshot())].filter((key) => key.startsWith(keys.oidcSessionsByAccount(userId)))).toEqual([]);
    const reference = page.headers.get('x-request-id');
    expect(lines.find((line) => line.requestId === reference)).toMatchObject({ msg: 'SAML single logout accepted', endedSessions: expect.any(Number) as unknown });

    // The same LogoutRequest again: a replay, refused.
    const before = await snapshot();
    const replay = await new TestBrowser().get(page.url);
    await expectRefusedPage({ snapshot, lines }, replay, { status: 400, code: 'saml.logout_replay', before, hidden: [ALICE.email] });
  });

  it('publishes the SLO URL in the SP metadata', async () => {
    const metadata = await new TestBrowser().get(`${issuer}/saml/${CONNECTION}/metadata`);
    expect(metadata.body).toContain(`Location="${issuer}/saml/${CONNECTION}/slo"`);
  });
});
