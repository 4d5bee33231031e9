// In-process integration on a real Redis: the whole broker (portal, authn, token on one origin)
// built from the demo configuration, the dev IdP beside it, and a browser with a cookie jar. Each
// bad input must get a 4xx page with the support reference and nothing internal, store nothing,
// and leave a log line with that reference and the specific code. A positive control shows that
// the same flow with the untouched response does sign in, so each rejection is about the input.
import { randomBytes, randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys } from '@broker/store';
import { redisTestSupport } from '@broker/store/testing';
import { TestBrowser, fixtureKeyPair, parseForm, type Page } from '@broker/testing';
import { authorizeUrl as pkceAuthorizeUrl, expectRefusedPage, keysUnder, type LogLine } from './test/broker-test-support.ts';
import { startDemoBroker, type DemoBroker } from './test/demo-broker.ts';

const { redisAvailable, redisTestUrl, requireRedisInCi, skipRedisTests } = redisTestSupport;
const url = redisTestUrl();
const available = await redisAvailable(url);

const CONNECTION = 'acme-dev-idp';
const CLIENT = { id: 'demo-backend', redirectUri: 'http://localhost:8080/callback' };
const ALICE = { username: 'alice', password: 'alice-password', email: 'alice@acme.test' };

const decodeResponse = (samlResponse: string): string => Buffer.from(samlResponse, 'base64').toString('utf8');
const encodeResponse = (xml: string): string => Buffer.from(xml, 'utf8').toString('base64');

/** What the dev IdP's auto-POST page would send to the broker's ACS. */
interface AcsPost {
  action: string;
  SAMLResponse: string;
  RelayState: string;
}

describe.skipIf(skipRedisTests(available, url))('broker on Redis: bad input is refused safely', () => {
  const prefix = `test:bad-input:${randomUUID()}:`;
  let lines: LogLine[] = [];
  let harness: DemoBroker | undefined;
  let admin: Redis | undefined;
  let issuer = '';
  let idpBase = '';
  let rogueBase = '';

  beforeAll(async () => {
    requireRedisInCi(available, url);
    harness = await startDemoBroker({ redisUrl: url, prefix });
    ({ lines, admin, issuer, idpBase } = harness);
    // Same entity ID, same users, same SP: only the signing key (the untrusted test key and its
    // self-signed certificate) differs.
    rogueBase = (await harness.startIdp({ ...harness.idpConfig, signing: fixtureKeyPair('attacker') })).base;
  });

  afterAll(async () => {
    await harness?.close();
  });

  /**
   * The keys under the test prefix, except the connections' diagnostics lists (saml:diag:*): a
   * refused response is meant to be recorded there for the administrator (capped, expiring), so
   * that list is intended state, not something a bad input managed to store.
   */
  const diagnosticsPrefix = keys.samlDiagnostics('');
  const snapshot = async (): Promise<Set<string>> => {
    if (!admin) throw new Error('no Redis connection');
    const found = await keysUnder(admin, prefix);
    return new Set([...found].filter((key) => !key.startsWith(diagnosticsPrefix)));
  };

  /** An authorization request of the demo backend (PKCE), optionally naming the tenant. */
  function authorizeUrl(params: Record<string, string> = {}): string {
    return pkceAuthorizeUrl(issuer, CLIENT, params);
  }

  /**
   * Start a login for tenant acme and sign in at the IdP (the rogue one when asked), up to the
   * auto-POST page: the broker holds the relay and AuthnRequest keys, the ACS post is not sent.
   */
  async function signInAtIdp(options: { via?: 'idp' | 'rogue' } = {}): Promise<{ browser: TestBrowser; post: AcsPost }> {
    const browser = new TestBrowser();
    const start = await browser.get(authorizeUrl({ tenant: 'acme' }));
    const toIdp = await browser.follow(start, (location) => location.startsWith(idpBase));
    expect(toIdp.location).toMatch(new RegExp(`^${idpBase}/sso\\?SAMLRequest=`));
    const idpUrl = options.via === 'rogue' ? (toIdp.location ?? '').replace(idpBase, rogueBase) : (toIdp.location ?? '');
    const loginPage = await browser.get(idpUrl);
    expect(loginPage.status).toBe(200);
    const autoPost = await browser.submit(loginPage, { username: ALICE.username, password: ALICE.password });
    expect(autoPost.status).toBe(200);
    const form = parseForm(autoPost.body, autoPost.url);
    expect(form.action).toBe(`${issuer}/saml/${CONNECTION}/acs`);
    const { SAMLResponse, RelayState } = form.fields;
    if (!SAMLResponse || !RelayState) throw new Error('the IdP did not post a SAMLResponse and RelayState');
    return { browser, post: { action: form.action, SAMLResponse, RelayState } };
  }

  /**
   * The checks every refused input must pass: status, a plain page with the reference from
   * X-Request-Id, no stack or internals, no key added to Redis since `before`, and a log line
   * with that reference and the expected code.
   */
  function expectRefused(page: Page, expected: { status: number; code: string; before: Set<string>; hidden?: string[] }): Promise<void> {
    return expectRefusedPage({ snapshot, lines }, page, expected);
  }

  /** A post to the ACS with these fields, refused with `code`: every check of expectRefused. */
  async function expectAcsRefused(browser: TestBrowser, form: Record<string, string>, code: string, hidden: string[] = [], action = `${issuer}/saml/${CONNECTION}/acs`, status = 400): Promise<void> {
    const before = await snapshot();
    const page = await browser.post(action, form);
    await expectRefused(page, { status, code, before, hidden: [ALICE.email, 'InResponseTo', 'signature', ...hidden] });
  }

  it('positive control: the untouched response signs in and the app gets a code', async () => {
    const { browser, post } = await signInAtIdp();
    const before = await snapshot();
    const accepted = await browser.post(post.action, { SAMLResponse: post.SAMLResponse, RelayState: post.RelayState });
    expect(accepted.status).toBe(303);
    // The snapshot sees what an accepted response stores (so an empty diff elsewhere means something).
    const added = [...(await snapshot())].filter((key) => !before.has(key)).map((key) => key.split(':').slice(0, 2).join(':'));
    expect(added).toEqual(expect.arrayContaining(['login:res', 'user-by-id:{acme}']));
    expect([...before].some((key) => key.startsWith('saml:relay:'))).toBe(true);
    expect(accepted.location).toMatch(new RegExp(`^${issuer}/interaction/[^/]+/complete\\?result=`));
    const reference = accepted.headers.get('x-request-id');
    expect(lines.find((line) => line.requestId === reference)?.msg).toBe('SAML login accepted');

    const done = await browser.follow(accepted, (location) => location.startsWith(CLIENT.redirectUri));
    expect(done.location).toMatch(new RegExp(`^${CLIENT.redirectUri}\\?code=`));
  });

  it('refuses a SAMLResponse that is not base64 XML', async () => {
    for (const garbage of ['%%% not base64 at all %%%', encodeResponse('plain text, not XML'), 'AAAA', '<samlp:Response/>']) {
      const { browser, post } = await signInAtIdp();
      await expectAcsRefused(browser, { SAMLResponse: garbage, RelayState: post.RelayState }, 'saml.malformed');
    }
  });

  it('refuses XML that is not a well-formed SAML response', async () => {
    const { browser, post } = await signInAtIdp();
    await expectAcsRefused(browser, { SAMLResponse: encodeResponse('<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"><unclosed>'), RelayState: post.RelayState }, 'saml.malformed', ['unclosed']);
  });

  it('refuses a response with every signature stripped', async () => {
    const { browser, post } = await signInAtIdp();
    const xml = decodeResponse(post.SAMLResponse);
    const unsigned = xml.replace(/<ds:Signature\b[\s\S]*?<\/ds:Signature>/g, '');
    expect(xml.match(/<ds:Signature\b/g)).toHaveLength(2); // Response and Assertion were both signed
    expect(unsigned).not.toMatch(/Signature/);
    await expectAcsRefused(browser, { SAMLResponse: encodeResponse(unsigned), RelayState: post.RelayState }, 'saml.signature_missing');
  });

  it('refuses a response whose NameID was changed after signing', async () => {
    const { browser, post } = await signInAtIdp();
    const xml = decodeResponse(post.SAMLResponse);
    const tampered = xml.replace(`>${ALICE.email}</saml:NameID>`, '>bob@acme.test</saml:NameID>');
    expect(tampered).not.toBe(xml);
    await expectAcsRefused(browser, { SAMLResponse: encodeResponse(tampered), RelayState: post.RelayState }, 'saml.invalid_signature', ['bob@acme.test']);
  });

  it('refuses a response signed by a key other than the pinned one (certificate in KeyInfo not trusted)', async () => {
    const { browser, post } = await signInAtIdp({ via: 'rogue' });
    const xml = decodeResponse(post.SAMLResponse);
    // Well-formed and complete: right issuer, audience and InResponseTo; only the key is wrong.
    expect(xml).toContain(`<saml:Issuer>${idpBase}/metadata</saml:Issuer>`);
    expect(xml).toMatch(/<ds:X509Certificate>/);
    await expectAcsRefused(browser, { SAMLResponse: post.SAMLResponse, RelayState: post.RelayState }, 'saml.certificate_untrusted');
  });

  it('refuses a response carrying a DOCTYPE', async () => {
    const { browser, post } = await signInAtIdp();
    const xml = decodeResponse(post.SAMLResponse);
    const withDoctype = xml.replace('<samlp:Response', '<!DOCTYPE samlp:Response [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><samlp:Response');
    expect(withDoctype).not.toBe(xml);
    await expectAcsRefused(browser, { SAMLResponse: encodeResponse(withDoctype), RelayState: post.RelayState }, 'saml.doctype_forbidden', ['DOCTYPE', 'passwd']);
  });

  it('refuses an unknown or missing RelayState, even with a valid response', async () => {
    const { browser, post } = await signInAtIdp();
    const unknown = randomBytes(32).toString('base64url'); // shaped like ours, never issued
    await expectAcsRefused(browser, { SAMLResponse: post.SAMLResponse, RelayState: unknown }, 'saml.relay_state_unknown', [unknown]);
    await expectAcsRefused(browser, { SAMLResponse: post.SAMLResponse, RelayState: 'x'.repeat(5000) }, 'saml.relay_state_unknown', ['xxxxxxxx']);
    await expectAcsRefused(browser, { SAMLResponse: post.SAMLResponse }, 'saml.unsolicited');
  });

  it('refuses a replayed response and RelayState after the login completed', async () => {
    const { browser, post } = await signInAtIdp();
    const first = await browser.post(post.action, { SAMLResponse: post.SAMLResponse, RelayState: post.RelayState });
    expect(first.status).toBe(303);
    // From the same browser and from another one (a stolen response).
    await expectAcsRefused(browser, { SAMLResponse: post.SAMLResponse, RelayState: post.RelayState }, 'saml.relay_state_unknown', [post.RelayState]);
    await expectAcsRefused(new TestBrowser(), { SAMLResponse: post.SAMLResponse, RelayState: post.RelayState }, 'saml.relay_state_unknown', [post.RelayState]);
  });

  it('refuses an unknown connection at /saml/<id>/acs with a 404', async () => {
    const { browser, post } = await signInAtIdp();
    await expectAcsRefused(browser, { SAMLResponse: post.SAMLResponse, RelayState: post.RelayState }, 'saml.unknown_connection', [], `${issuer}/saml/nope/acs`, 404);
    await expectAcsRefused(browser, { SAMLResponse: post.SAMLResponse, RelayState: post.RelayState }, 'saml.unknown_connection', [], `${issuer}/saml/${encodeURIComponent('<script>')}/acs`, 404);
  });

  it('refuses an unknown tenant at /authorize with a 404 page, before any login is handed off', async () => {
    const browser = new TestBrowser();
    const initial = await snapshot();
    const start = await browser.get(authorizeUrl({ tenant: 'nope' }));
    expect(start.status).toBe(303);
    expect(start.location).toMatch(new RegExp(`^${issuer}/interaction/`));
    // oidc-provider keeps the interaction it is about to hand to the portal; nothing else.
    const afterAuthorize = await snapshot();
    expect([...afterAuthorize].filter((key) => !initial.has(key)).map((key) => key.replace(/:[^:]+$/, ''))).toEqual(['oidc:Interaction']);

    const page = await browser.get(start.location ?? '');
    await expectRefused(page, { status: 404, code: 'tenant.unknown', before: afterAuthorize, hidden: ['nope', idpBase] });
  });

  it('answers an unknown email domain on the discovery form with a 404 and no redirect to any IdP', async () => {
    const browser = new TestBrowser();
    const start = await browser.get(authorizeUrl());
    const discovery = await browser.follow(start);
    expect(discovery.status).toBe(200);
    expect(discovery.body).toContain('Work email');

    const before = await snapshot();
    const page = await browser.submit(discovery, { email: 'mallory@unknown.test' });
    expect(page.status).toBe(404);
    expect(page.location).toBeUndefined();
    expect(page.body).not.toContain(idpBase);
    expect(page.body).not.toContain('/saml/');
    expect(page.body).toContain('We do not know an organization for this email address.');
    expect(page.body).not.toMatch(/\n\s+at \S|node_modules|\.ts:\d+/);
    expect([...(await snapshot())].filter((key) => !before.has(key))).toEqual([]);
    const reference = page.headers.get('x-request-id') ?? '';
    expect(lines.filter((line) => line.requestId === reference).map((line) => line.code)).toContain('tenant.unknown_domain');
    // Known gap (reported): this page is the discovery form again and carries no support reference.
  });
});
