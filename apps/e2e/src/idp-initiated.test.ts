// End to end, split mode on Redis: sign-ins that do not start at the app. IdP-initiated SSO
// (the dev IdP's /idp-initiated, an unsolicited response) and login links (/login/sso) land at
// the app's login-initiation URI (a small HTTP listener here, standing for the app) holding a
// pending broker login; the app's own PKCE request then completes without another trip to the IdP.
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { parseForm, TestBrowser } from '@broker/testing';
import {
  callbackOf,
  devIdpConnection,
  isDiscoveryPage,
  Journey,
  loggedRejections,
  openAuthorization,
  redeem,
  redirectTarget,
  signInAtIdp,
  toIdpLoginForm,
  useBrokerStore,
} from './federation-support.ts';
import { ALICE, authorizationRequest, BOB, discover, ES256_CLIENT, loopbackRedirectUri, skipWithoutRedis, useSplitCluster } from './support.ts';

/** The app's login-initiation endpoint: records each hit (OIDC third-party-initiated login). */
const appHits: string[] = [];
const app = createServer((req, res) => {
  appHits.push(req.url ?? '');
  res.writeHead(200, { 'content-type': 'text/plain' }).end('demo app: starting the sign-in');
});
app.listen(0, '127.0.0.1');
await once(app, 'listening');
const INITIATE_LOGIN_URI = `http://127.0.0.1:${(app.address() as AddressInfo).port}/login`;
afterAll(async () => {
  app.closeAllConnections();
  await new Promise((resolve) => app.close(resolve));
});

const PENDING_LOGIN_COOKIE = 'broker_pending_login';
const LOGIN_LINK_COOKIE = 'broker_login_link';

describe.skipIf(skipWithoutRedis())('IdP-initiated SSO and login links, end to end', () => {
  const handle = useSplitCluster({
    tenants: (context) => [
      {
        id: 'acme',
        displayName: 'Acme Corporation',
        externalIds: { organization: 'acme-org' },
        accounts: [{ id: 'acme-eu', externalId: 'acct-eu', displayName: 'Acme Europe' }],
        emailDomains: ['acme.test'],
        connections: [devIdpConnection(context, { id: 'acme-dev-idp', idpInitiated: { enabled: true, relayState: 'demo-native' } })],
      },
      // IdP-initiated SSO off (the default).
      { id: 'globex', displayName: 'Globex', emailDomains: ['globex.test'], connections: [devIdpConnection(context, { id: 'globex-dev-idp' })] },
    ],
    defaultClients: { 'demo-native': { initiateLoginUri: INITIATE_LOGIN_URI } },
    clients: [{ clientId: 'e2e-other', displayName: 'Another app', kind: 'native', redirectUris: ['http://127.0.0.1/callback'], allowedTenants: ['acme'] }],
  });

  const store = useBrokerStore(handle);
  const spEntityId = (connectionId: string): string => `${handle.cluster().issuer}/saml/${connectionId}/metadata`;

  /** The dev IdP's IdP-initiated login for `connectionId`'s SP, signed in: the ACS's answer. */
  const idpInitiatedLogin = async (journey: Journey, connectionId: string, person = ALICE) => {
    const form = await journey.get(`${handle.cluster().idpUrl}/idp-initiated?sp=${encodeURIComponent(spEntityId(connectionId))}`);
    expect(form.status, form.body.slice(0, 500)).toBe(200);
    return signInAtIdp(journey, form, person, connectionId);
  };

  /** The ACS's redirect to the app's login-initiation URI (with iss and login_hint), followed. */
  const landAtApp = async (journey: Journey, acs: Awaited<ReturnType<typeof idpInitiatedLogin>>['acs'], email: string): Promise<URL> => {
    const landing = redirectTarget(acs);
    expect(acs.status).toBe(303);
    expect(`${landing.origin}${landing.pathname}`).toBe(INITIATE_LOGIN_URI);
    expect(landing.searchParams.get('iss')).toBe(handle.cluster().issuer);
    expect(landing.searchParams.get('login_hint')).toBe(email);
    const cookie = acs.headers.getSetCookie().find((c) => c.startsWith(`${PENDING_LOGIN_COOKIE}=`));
    expect(cookie, 'the pending login cookie').toBeDefined();
    expect(cookie?.toLowerCase()).toContain('httponly');
    const hits = appHits.length;
    expect((await journey.get(landing)).status).toBe(200);
    expect(appHits.slice(hits)).toEqual([`${landing.pathname}${landing.search}`]);
    return landing;
  };

  /**
   * The app's own authorization request (PKCE, login_hint from the landing) in the same browser:
   * /authorize -> /interaction/<uid> -> /authorize/<uid> -> the redirect URI with a code, and
   * nothing else: no discovery page, no authn-service, no IdP.
   */
  const appCompletesWithoutIdp = async (journey: Journey, clientId: string, loginHint: string, options: { confirmAs?: string } = {}) => {
    const cluster = handle.cluster();
    const config = await discover(cluster, clientId, undefined, ES256_CLIENT);
    const request = await authorizationRequest(config, loopbackRedirectUri(), { login_hint: loginHint });
    const from = journey.hops.length;
    const authorize = await journey.get(request.url);
    const interaction = redirectTarget(authorize);
    const uid = /^\/interaction\/([^/]+)$/.exec(interaction.pathname)?.[1] ?? '';
    expect(uid).not.toBe('');
    let answer = await journey.get(interaction);
    if (options.confirmAs !== undefined) {
      // An IdP-initiated login: the person confirms who is signing in (login CSRF), then goes on.
      expect(answer.status).toBe(200);
      expect(answer.body).toContain(`as <strong>${options.confirmAs}</strong> of <strong>Acme Corporation</strong>?`);
      answer = await journey.submit(answer);
    }
    const resume = redirectTarget(answer);
    expect(`${resume.origin}${resume.pathname}`).toBe(`${cluster.issuer}/authorize/${uid}`);
    const callback = callbackOf(await journey.get(resume), request);
    const confirmation = options.confirmAs === undefined ? [] : [`${cluster.issuer}/interaction/${uid}/complete`];
    expect(journey.paths(from)).toEqual([`${cluster.issuer}/authorize`, `${cluster.issuer}/interaction/${uid}`, ...confirmation, `${cluster.issuer}/authorize/${uid}`]);
    return redeem(config, callback, request);
  };

  it('the dev IdP’s IdP-initiated login lands at the app’s initiate_login_uri; the app’s PKCE request then completes without the IdP', async () => {
    const cluster = handle.cluster();
    const journey = new Journey(cluster);
    const pendingBefore = await handle.redisKeys('login:pending:*');
    const { acs, posted } = await idpInitiatedLogin(journey, 'acme-dev-idp');
    // Unsolicited: no InResponseTo, and no RelayState (the connection names the app).
    expect(Buffer.from(posted['SAMLResponse'] ?? '', 'base64').toString('utf8')).not.toContain('InResponseTo');
    expect(posted['RelayState']).toBeUndefined();
    const landing = await landAtApp(journey, acs, ALICE.email);

    const idpRequests = cluster.logEntries('dev-idp').length;
    const { claims, tokens } = await appCompletesWithoutIdp(journey, 'demo-native', landing.searchParams.get('login_hint') ?? '', { confirmAs: ALICE.email });
    expect(claims).toMatchObject({ aud: 'demo-native', tenant: 'acme', email: ALICE.email, given_name: 'Alice', family_name: 'Anderson' });
    expect(tokens.access_token).toBeTruthy();
    // The dev IdP logged nothing more (no AuthnRequest, no login).
    expect(cluster.logEntries('dev-idp').slice(idpRequests)).toEqual([]);
    // The pending login was single use.
    expect((await handle.redisKeys('login:pending:*')).sort()).toEqual(pendingBefore.sort());
  });

  it('an IdP-initiated login posted into another browser (login CSRF) shows whose it is, and "not me" leads to the sign-in page, with no code', async () => {
    const cluster = handle.cluster();
    // Bob's IdP-initiated response, kept by Bob and posted from the victim's browser by a page of his.
    const bob = new Journey(cluster);
    const form = await bob.get(`${cluster.idpUrl}/idp-initiated?sp=${encodeURIComponent(spEntityId('acme-dev-idp'))}`);
    const autoPost = await bob.submit(form, { username: BOB.username, password: BOB.password });
    const kept = parseForm(autoPost.body, autoPost.url);
    const victim = new Journey(cluster);
    const acs = await victim.post(kept.action, kept.fields);
    await landAtApp(victim, acs, BOB.email);
    const config = await discover(cluster, 'demo-native', undefined, ES256_CLIENT);
    const request = await authorizationRequest(config, loopbackRedirectUri());
    const interaction = redirectTarget(await victim.get(request.url));
    const page = await victim.get(interaction);
    expect(page.status).toBe(200);
    expect(page.body).toContain(`as <strong>${BOB.email}</strong> of <strong>Acme Corporation</strong>?`);
    expect(page.headers.get('cache-control')).toBe('no-store');
    // "This is not me": the held login is thrown away, and the same interaction shows the sign-in page.
    const notMe = await victim.submit(page, {}, '/not-me');
    expect(redirectTarget(notMe).pathname).toBe(interaction.pathname);
    expect(isDiscoveryPage(await victim.get(redirectTarget(notMe))), 'the sign-in page').toBe(true);
    // Back, then Continue: the login is gone.
    const continued = await victim.submit(page, {}, '/complete');
    expect(continued.status).toBe(400);
    expect(victim.hops.some((hop) => hop.location?.includes('code='))).toBe(false);
  });

  it('a replayed IdP-initiated response is refused (saml.replay) and gives no pending login', async () => {
    const cluster = handle.cluster();
    const journey = new Journey(cluster);
    const { acs, posted } = await idpInitiatedLogin(journey, 'acme-dev-idp', BOB);
    expect(acs.status).toBe(303);
    const pending = await handle.redisKeys('login:pending:*');

    const logged = cluster.logEntries('authn-service').length;
    const replay = await new TestBrowser().post(`${cluster.issuer}/saml/acme-dev-idp/acs`, posted);
    expect(replay.status).toBe(400);
    expect(replay.body).toContain('Your sign-in could not be completed');
    expect(replay.headers.getSetCookie().some((c) => c.startsWith(`${PENDING_LOGIN_COOKIE}=`))).toBe(false);
    expect(await loggedRejections(cluster, 'authn-service', logged)).toEqual(['saml.replay']);
    expect((await handle.redisKeys('login:pending:*')).sort()).toEqual(pending.sort());
  });

  it('IdP-initiated SSO on a connection with it off is refused (saml.unsolicited), and no user is created', async () => {
    const cluster = handle.cluster();
    const logged = cluster.logEntries('authn-service').length;
    const { acs } = await idpInitiatedLogin(new Journey(cluster), 'globex-dev-idp');
    expect(acs.status).toBe(400);
    expect(acs.location).toBeUndefined();
    expect(await loggedRejections(cluster, 'authn-service', logged)).toEqual(['saml.unsolicited']);
    expect(await handle.redisKeys('user-by-id:{globex}:*')).toEqual([]);
  });

  it('a pending login is not usable by another client: its authorization request gets the discovery page, and the pending login is used up', async () => {
    const cluster = handle.cluster();
    const journey = new Journey(cluster);
    const pendingBefore = await handle.redisKeys('login:pending:*');
    const { acs } = await idpInitiatedLogin(journey, 'acme-dev-idp');
    await landAtApp(journey, acs, ALICE.email);
    expect(await handle.redisKeys('login:pending:*')).toHaveLength(pendingBefore.length + 1);

    for (const clientId of ['e2e-other', 'demo-native']) {
      const config = await discover(cluster, clientId, undefined, ES256_CLIENT);
      const request = await authorizationRequest(config, loopbackRedirectUri());
      const interaction = redirectTarget(await journey.get(request.url));
      const page = await journey.get(interaction);
      expect(page.status).toBe(200);
      expect(isDiscoveryPage(page), `${clientId}: ${page.body.slice(0, 300)}`).toBe(true);
      expect((await handle.redisKeys('login:pending:*')).sort()).toEqual(pendingBefore.sort());
    }
  });

  it('a login link (/login/sso, organization and account external ids) goes through the IdP to the app’s initiate_login_uri; the PKCE request then completes without the IdP', async () => {
    const cluster = handle.cluster();
    const journey = new Journey(cluster);
    const link = await journey.get(`${cluster.issuer}/login/sso?orgExternalId=acme-org&accountExternalId=acct-eu&client_id=demo-native`);
    expect(redirectTarget(link).searchParams.get('link')).toBeTruthy();
    const form = await toIdpLoginForm(journey, link, 'acme-dev-idp', cluster.idpUrl);
    const { acs, posted } = await signInAtIdp(journey, form, BOB, 'acme-dev-idp');
    // SP-initiated this time: the response answers the AuthnRequest, with the broker's RelayState.
    expect(Buffer.from(posted['SAMLResponse'] ?? '', 'base64').toString('utf8')).toContain('InResponseTo="_');
    expect(posted['RelayState']).toBeTruthy();
    await landAtApp(journey, acs, BOB.email);

    const { claims } = await appCompletesWithoutIdp(journey, 'demo-native', BOB.email);
    expect(claims).toMatchObject({ tenant: 'acme', email: BOB.email });
    // The account of the link is recorded on the user.
    const record = JSON.parse((await store().get(`user:${claims.sub}`)) ?? '{}') as { accounts?: string[] };
    expect(record.accounts).toEqual(['acme-eu']);
  });

  it('two login links opened in one browser: the first one still completes there', async () => {
    const cluster = handle.cluster();
    const journey = new Journey(cluster);
    const first = await journey.get(`${cluster.issuer}/login/sso?orgExternalId=acme-org&client_id=demo-native`);
    const firstForm = await toIdpLoginForm(journey, first, 'acme-dev-idp', cluster.idpUrl);
    // A second link (another tab, or a second click) before the first is done.
    const second = await journey.get(`${cluster.issuer}/login/sso?orgExternalId=acme-org&client_id=demo-native`);
    await toIdpLoginForm(journey, second, 'acme-dev-idp', cluster.idpUrl);
    const { acs } = await signInAtIdp(journey, firstForm, BOB, 'acme-dev-idp');
    await landAtApp(journey, acs, BOB.email);
    const { claims } = await appCompletesWithoutIdp(journey, 'demo-native', BOB.email);
    expect(claims).toMatchObject({ tenant: 'acme', email: BOB.email });
  });

  it('a login link’s IdP response posted by another browser (login CSRF) signs nobody in there', async () => {
    const cluster = handle.cluster();
    // Bob starts a link in his own browser and keeps the IdP's auto-POST form instead of sending it.
    const bob = new Journey(cluster);
    const link = await bob.get(`${cluster.issuer}/login/sso?orgExternalId=acme-org&client_id=demo-native`);
    const linkCookie = link.headers.getSetCookie().find((c) => c.startsWith(`${LOGIN_LINK_COOKIE}=`));
    expect(linkCookie?.toLowerCase()).toContain('httponly');
    expect(linkCookie?.toLowerCase()).toContain('samesite=lax');
    const autoPost = await bob.submit(await toIdpLoginForm(bob, link, 'acme-dev-idp', cluster.idpUrl), { username: BOB.username, password: BOB.password });
    const kept = parseForm(autoPost.body, autoPost.url);

    // A page of Bob's makes the victim's browser post it to the ACS: accepted (a valid response)…
    const victim = new Journey(cluster);
    const acs = await victim.post(kept.action, kept.fields);
    await landAtApp(victim, acs, BOB.email);
    // …but the app's own request in the victim's browser does not finish as Bob: the pending login
    // is refused (and used up), and the victim gets the sign-in page.
    const logged = cluster.logEntries('auth-portal').length;
    const config = await discover(cluster, 'demo-native', undefined, ES256_CLIENT);
    const request = await authorizationRequest(config, loopbackRedirectUri());
    const { page } = await openAuthorization(victim, request);
    expect(isDiscoveryPage(page), page.body.slice(0, 300)).toBe(true);
    expect(await loggedRejections(cluster, 'auth-portal', logged)).toEqual(['login.link_other_browser']);
    expect(victim.hops.some((hop) => hop.location?.includes('code='))).toBe(false);
  });

  it('a login link that names an unknown organization or account, or an application it cannot open, gets one answer (the log says which)', async () => {
    const cluster = handle.cluster();
    const browser = new TestBrowser();
    const logged = cluster.logEntries('auth-portal').length;
    const links = [
      'orgExternalId=nobody&client_id=demo-native',
      'orgExternalId=acme-org&accountExternalId=acct-nowhere&client_id=demo-native',
      'orgExternalId=acme-org&client_id=e2e-other',
      'orgExternalId=acme-org&client_id=no-such-app',
    ];
    const pages = await Promise.all(links.map((query) => browser.get(`${cluster.issuer}/login/sso?${query}`)));
    // Nothing tells a guessed organization id, account id or client id from a wrong one.
    expect(new Set(pages.map((page) => page.status))).toEqual(new Set([404]));
    for (const page of pages) expect(page.body).toContain('This sign-in link is not valid.');
    expect((await loggedRejections(cluster, 'auth-portal', logged, links.length)).sort()).toEqual(['login.no_initiate_login_uri', 'tenant.not_allowed', 'tenant.unknown', 'tenant.unknown_account']);
  });
});
