// In-process integration on a real Redis: requests of one browser racing each other.
// - A logout (SAML Single Logout, or the app's /logout) while the same browser has authorization
//   requests in flight (a second tab, an SPA's silent prompt=none renewal): oidc-provider saves a
//   Session again at the end of every request that loaded it, so a request that read the session
//   before the logout used to write it back, and the browser stayed signed in.
// - A finished interaction resumed several times at once (/authorize/:uid: a double click, a
//   retried redirect): oidc-provider destroys the Interaction and goes on whether or not it was
//   still there, so each resume used to issue its own code.
import { createHash, createSign, randomBytes, randomUUID } from 'node:crypto';
import { deflateRawSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys, type Store } from '@broker/store';
import { redisTestSupport } from '@broker/store/testing';
import { TestBrowser, parseForm, type Page } from '@broker/testing';
import { authorizeUrl, keysUnder } from './test/broker-test-support.ts';
import { startDemoBroker, type DemoBroker } from './test/demo-broker.ts';

const { redisAvailable, redisTestUrl, requireRedisInCi, skipRedisTests } = redisTestSupport;
const url = redisTestUrl();
const available = await redisAvailable(url);

const CONNECTION = 'acme-dev-idp';
const CLIENT = { id: 'demo-backend', secret: 'demo-backend-secret-not-for-production', redirectUri: 'http://localhost:8080/callback' };
const SAMLP = 'urn:oasis:names:tc:SAML:2.0:protocol';
const SAML = 'urn:oasis:names:tc:SAML:2.0:assertion';
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The oidc-provider Sessions of a user that are in the store. */
async function sessionsInStore(h: DemoBroker, userId: string): Promise<string[]> {
  const found: string[] = [];
  for (const key of await keysUnder(h.admin, h.prefix)) {
    if (!key.startsWith('oidc:Session:')) continue;
    const payload = JSON.parse((await h.admin.get(`${h.prefix}${key}`)) ?? '{}') as { accountId?: string };
    if (payload.accountId === userId) found.push(key);
  }
  return found;
}

/** A signed HTTP-Redirect LogoutRequest from the dev IdP for `nameId`. */
function signedLogoutRequestUrl(h: DemoBroker, nameId: string): string {
  const xml =
    `<samlp:LogoutRequest xmlns:samlp="${SAMLP}" xmlns:saml="${SAML}" ID="_slo${randomUUID()}" Version="2.0" IssueInstant="${new Date().toISOString()}" Destination="${h.issuer}/saml/${CONNECTION}/slo" NotOnOrAfter="${new Date(Date.now() + 120_000).toISOString()}">` +
    `<saml:Issuer>${h.idpBase}/metadata</saml:Issuer><saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">${nameId}</saml:NameID>` +
    `<samlp:SessionIndex>_idp-session</samlp:SessionIndex></samlp:LogoutRequest>`;
  const parts = [`SAMLRequest=${encodeURIComponent(deflateRawSync(Buffer.from(xml, 'utf8')).toString('base64'))}`, 'RelayState=r', `SigAlg=${encodeURIComponent('http://www.w3.org/2001/04/xmldsig-more#rsa-sha256')}`];
  const signature = createSign('RSA-SHA256').update(parts.join('&')).sign(h.idpConfig.signing.privateKeyPem, 'base64');
  return `${h.issuer}/saml/${CONNECTION}/slo?${parts.join('&')}&Signature=${encodeURIComponent(signature)}`;
}

/** prompt=none from this browser: 'code' when signed in, else the error the app gets. */
async function silentAuthorization(h: DemoBroker, browser: TestBrowser): Promise<string> {
  const page = await browser.follow(await browser.get(authorizeUrl(h.issuer, CLIENT, { prompt: 'none' })), (l) => l.startsWith(CLIENT.redirectUri));
  const location = new URL(page.location ?? 'http://invalid/');
  return location.searchParams.get('code') ? 'code' : (location.searchParams.get('error') ?? `status ${page.status}`);
}

describe.skipIf(skipRedisTests(available, url))('broker on Redis: requests of one browser racing each other', () => {
  const prefix = `test:session-races:${randomUUID()}:`;
  let h: DemoBroker;
  beforeAll(async () => {
    requireRedisInCi(available, url);
    h = await startDemoBroker({ redisUrl: url, prefix, connection: (connection, base) => ({ ...connection, idp: { ...connection.idp, sloUrl: `${base}/slo` } }) });
  });
  afterAll(async () => {
    await h?.close();
  });

  const sessionsOf = (userId: string) => sessionsInStore(h, userId);

  /** Alice signs in through the dev IdP, up to the ACS's redirect to /interaction/:uid/complete. */
  async function upToComplete(params: Record<string, string> = {}): Promise<{ browser: TestBrowser; complete: Page; nameId: string }> {
    const browser = new TestBrowser();
    const toIdp = await browser.follow(await browser.get(authorizeUrl(h.issuer, CLIENT, { tenant: 'acme', ...params })), (l) => l.startsWith(h.idpBase));
    const autoPost = await browser.submit(await browser.get(toIdp.location ?? ''), { username: 'alice', password: 'alice-password' });
    const form = parseForm(autoPost.body, autoPost.url);
    const nameId = /<saml:NameID[^>]*>([^<]+)<\/saml:NameID>/.exec(Buffer.from(form.fields['SAMLResponse'] ?? '', 'base64').toString('utf8'))?.[1] ?? '';
    const complete = await browser.post(form.action, form.fields);
    expect(complete.location).toMatch(/\/interaction\/[^/]+\/complete\?result=/);
    return { browser, complete, nameId };
  }

  async function signIn(): Promise<{ browser: TestBrowser; userId: string; nameId: string }> {
    const { browser, complete, nameId } = await upToComplete();
    const done = await browser.follow(complete, (l) => l.startsWith(CLIENT.redirectUri));
    expect(done.location).toMatch(/\?code=/);
    const userId = (await h.admin.get(`${prefix}${keys.userByIdentifier('acme', 'federationId', nameId)}`)) ?? '';
    expect(userId).not.toBe('');
    return { browser, userId, nameId };
  }

  const logoutRequestUrl = (nameId: string) => signedLogoutRequestUrl(h, nameId);
  const silent = (browser: TestBrowser) => silentAuthorization(h, browser);

  /** Six loops of prompt=none from `browser` around `logout`; what prompt=none says afterwards. */
  async function logoutAmidSilentRenewals(browser: TestBrowser, logout: () => Promise<Page>): Promise<{ logout: Page; afterwards: string }> {
    let stop = false;
    const loops = Array.from({ length: 6 }, async () => {
      while (!stop) expect(['code', 'login_required']).toContain(await silent(browser));
    });
    await pause(60);
    const page = await logout();
    await pause(60);
    stop = true;
    await Promise.all(loops);
    return { logout: page, afterwards: await silent(browser) };
  }

  it('a SAML Single Logout stays done while the browser has prompt=none requests in flight', async () => {
    for (let trial = 0; trial < 5; trial++) {
      const { browser, userId, nameId } = await signIn();
      expect(await silent(browser)).toBe('code');
      const { logout, afterwards } = await logoutAmidSilentRenewals(browser, () => new TestBrowser().get(logoutRequestUrl(nameId)));
      expect(logout.status).toBe(302);
      expect(await sessionsOf(userId)).toEqual([]);
      expect(afterwards).toBe('login_required');
    }
  }, 120_000);

  it("the app's /logout stays done while the browser has prompt=none requests in flight", async () => {
    for (let trial = 0; trial < 5; trial++) {
      const { browser, userId } = await signIn();
      const before = new Set(await sessionsOf(userId));
      const confirm = await browser.get(`${h.issuer}/logout?client_id=${CLIENT.id}`);
      expect(confirm.status).toBe(200);
      const { logout, afterwards } = await logoutAmidSilentRenewals(browser, () => browser.submit(confirm, { logout: 'yes' }));
      expect(logout.status).toBe(303);
      // Sessions of earlier trials (other browsers) are not this browser's business.
      const left = await Promise.all([...before].map(async (key) => ((await h.admin.exists(`${prefix}${key}`)) ? key : undefined)));
      expect(left.filter(Boolean)).toEqual([]);
      expect(afterwards).toBe('login_required');
    }
  }, 120_000);

  it('two tabs resuming at once (each renames the session) leave the browser a session that exists, whichever answer lands last', async () => {
    const NATIVE = { id: 'demo-native', redirectUri: 'http://127.0.0.1:5999/callback' };
    for (let trial = 0; trial < 3; trial++) {
      const { browser } = await signIn();
      // Two native-app authorizations from the session: each asks for consent, both allowed.
      const resumes: string[] = [];
      for (const state of ['tab-1', 'tab-2']) {
        const consent = await browser.follow(await browser.get(authorizeUrl(h.issuer, NATIVE, { state })), (l) => l.startsWith(NATIVE.redirectUri));
        expect(consent.body).toContain('value="allow"');
        const allowed = await browser.submit(consent, { decision: 'allow' });
        expect(allowed.location).toMatch(/\/authorize\/[^/?]+$/);
        resumes.push(allowed.location ?? '');
      }
      const answers = await Promise.all(resumes.map((resume) => browser.get(resume)));
      for (const answer of answers) expect(answer.location).toMatch(/^http:\/\/127\.0\.0\.1:5999\/callback\?code=/);
      // Every session id an answer set in the browser's cookie is a session in the store.
      const sessionIds = answers.flatMap((answer) => answer.headers.getSetCookie().map((cookie) => /^_session=([^;]+)/.exec(cookie)?.[1]).filter((id) => id !== undefined));
      expect(sessionIds.length).toBeGreaterThan(0);
      for (const id of sessionIds) expect(await h.admin.exists(`${h.prefix}${keys.oidcModel('Session', id)}`), `session ${id}`).toBe(1);
    }
  }, 60_000);

  it('a finished interaction resumed five times at once issues one code; the others get a 400', async () => {
    const verifier = randomBytes(32).toString('base64url');
    const challenge = { code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256' };
    for (let trial = 0; trial < 3; trial++) {
      const { browser, complete } = await upToComplete(challenge);
      const finished = await browser.get(complete.location ?? '');
      expect(finished.status).toBe(303);
      expect(finished.location).toMatch(/\/authorize\/[^/?]+$/);
      const pages = await Promise.all(Array.from({ length: 5 }, () => browser.get(finished.location ?? '')));
      const codes = pages.map((page) => (page.location?.startsWith(CLIENT.redirectUri) ? new URL(page.location).searchParams.get('code') : null)).filter((code) => code !== null);
      expect(codes).toHaveLength(1);
      expect(pages.map((page) => page.status).sort()).toEqual([303, 400, 400, 400, 400]);
      const token = await fetch(`${h.issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${CLIENT.id}:${CLIENT.secret}`).toString('base64')}` },
        body: new URLSearchParams({ grant_type: 'authorization_code', code: codes[0] ?? '', redirect_uri: CLIENT.redirectUri, code_verifier: verifier }),
      });
      expect(token.status).toBe(200);
    }
  }, 60_000);
});

describe.skipIf(skipRedisTests(available, url))('broker on Redis: a resumed authorization racing a Single Logout', () => {
  const NATIVE = { id: 'demo-native', redirectUri: 'http://127.0.0.1:5999/callback' };
  // The next resume is held right after it destroyed its Interaction (it has loaded the session
  // by then), as a slow round trip would, until the test lets it go.
  let hold: { reached: () => void; released: Promise<void> } | undefined;
  let h: DemoBroker;
  beforeAll(async () => {
    requireRedisInCi(available, url);
    h = await startDemoBroker({
      redisUrl: url,
      prefix: `test:session-races:${randomUUID()}:`,
      connection: (connection, base) => ({ ...connection, idp: { ...connection.idp, sloUrl: `${base}/slo` } }),
      wrapStore: (store: Store): Store => ({
        ...store,
        delete: async (...keys: string[]) => {
          const deleted = await store.delete(...keys);
          const held = hold;
          if (held && keys.some((key) => key.startsWith('oidc:Interaction:'))) {
            hold = undefined;
            held.reached();
            await held.released;
          }
          return deleted;
        },
      }),
    });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('the session a consent resume renames (oidc-provider gives it a new id) stays ended when a Single Logout ended it meanwhile', async () => {
    const browser = new TestBrowser();
    const toIdp = await browser.follow(await browser.get(authorizeUrl(h.issuer, CLIENT, { tenant: 'acme' })), (l) => l.startsWith(h.idpBase));
    const autoPost = await browser.submit(await browser.get(toIdp.location ?? ''), { username: 'alice', password: 'alice-password' });
    const form = parseForm(autoPost.body, autoPost.url);
    const nameId = /<saml:NameID[^>]*>([^<]+)<\/saml:NameID>/.exec(Buffer.from(form.fields['SAMLResponse'] ?? '', 'base64').toString('utf8'))?.[1] ?? '';
    expect((await browser.follow(await browser.post(form.action, form.fields), (l) => l.startsWith(CLIENT.redirectUri))).location).toMatch(/\?code=/);
    const userId = (await h.admin.get(`${h.prefix}${keys.userByIdentifier('acme', 'federationId', nameId)}`)) ?? '';
    expect(await silentAuthorization(h, browser)).toBe('code');

    // A native app asks; signed-in alice gets the consent page and allows.
    const verifier = randomBytes(32).toString('base64url');
    const consent = await browser.follow(
      await browser.get(authorizeUrl(h.issuer, NATIVE, { code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256' })),
      (l) => l.startsWith(NATIVE.redirectUri),
    );
    expect(consent.body).toContain('value="allow"');
    const allowed = await browser.submit(consent, { decision: 'allow' });
    expect(allowed.location).toMatch(/\/authorize\/[^/?]+$/);

    // The resume loads the session and is held; the IdP's Single Logout ends the session meanwhile.
    let reached: () => void = () => undefined;
    let release: () => void = () => undefined;
    const atHold = new Promise<void>((resolve) => (reached = resolve));
    hold = { reached: () => reached(), released: new Promise<void>((resolve) => (release = resolve)) };
    const resuming = browser.get(allowed.location ?? '');
    await atHold;
    expect((await new TestBrowser().get(signedLogoutRequestUrl(h, nameId))).status).toBe(302);
    expect(await sessionsInStore(h, userId)).toEqual([]);
    release();
    await resuming;
    expect(await sessionsInStore(h, userId)).toEqual([]);
    expect(await silentAuthorization(h, browser)).toBe('login_required');
  }, 60_000);
});
