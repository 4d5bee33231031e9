// End to end, split mode on Redis: which tenant and which IdP a login goes to. Two tenants with
// their own email domains; Acme has two connections, the dev IdP process and a second IdP (a dev
// IdP with its own entity ID and key, run in this test process): the picker, idp_hint, domains.
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { beforeAll, afterAll, describe, expect, it } from 'vitest';
import { createDevIdp } from '@broker/dev-idp';
import { createLogger } from '@broker/telemetry';
import { fixtureKeyPair, type Page } from '@broker/testing';
import {
  callbackOf,
  completeInteraction,
  devIdpConnection,
  devIdpUser,
  isDiscoveryPage,
  isPickerPage,
  Journey,
  loginThrough,
  openAuthorization,
  personOf,
  pickerChoices,
  redirectTarget,
  redeem,
  loggedRejections,
  signInAtIdp,
  toIdpLoginForm,
} from './federation-support.ts';
import { ALICE, authorizationRequest, discover, ES256_CLIENT, loopbackRedirectUri, skipWithoutRedis, useSplitCluster, type Person } from './support.ts';

const CLIENT_ID = 'e2e-routing';
/** An app only Acme may sign in to. */
const ACME_ONLY_CLIENT_ID = 'e2e-acme-only';
const GINA = devIdpUser('gina', 'globex.test', { givenName: 'Gina', surname: 'Garcia' });
/** Alice's account at Acme's second IdP: other credentials, the same email (the NameID). */
const ALICE_AT_PARTNER: Person = { username: 'alice.partner', password: 'partner-password', email: ALICE.email };
const PARTNER_KEYS = fixtureKeyPair('idp-b');

describe.skipIf(skipWithoutRedis())('tenants: picker, idp_hint and email domains, end to end', () => {
  // The second IdP listens first, so that its URL can go into the broker's configuration; it is
  // configured once the cluster (and so the broker's SP entity IDs) is known.
  let partner: Server | undefined;
  let partnerUrl = '';
  beforeAll(async () => {
    partner = createServer();
    partner.listen(0);
    await once(partner, 'listening');
    partnerUrl = `http://localhost:${(partner.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    if (!partner) return;
    partner.closeAllConnections();
    await new Promise((resolve) => partner?.close(resolve));
  });

  const handle = useSplitCluster({
    tenants: (context) => [
      {
        id: 'acme',
        displayName: 'Acme Corporation',
        emailDomains: ['acme.test'],
        connections: [
          devIdpConnection(context, { id: 'acme-dev-idp', displayName: 'Acme dev IdP' }),
          devIdpConnection(context, {
            id: 'acme-partner-idp',
            displayName: 'Acme partner IdP',
            idp: { entityId: `${partnerUrl}/metadata`, ssoUrl: `${partnerUrl}/sso`, certificates: [PARTNER_KEYS.certificatePem] },
          }),
        ],
      },
      { id: 'globex', displayName: 'Globex', emailDomains: ['globex.test'], connections: [devIdpConnection(context, { id: 'globex-dev-idp' })] },
    ],
    devIdpUsers: [{ ...ALICE, givenName: 'Alice', surname: 'Anderson' }, GINA],
    clients: [
      { clientId: CLIENT_ID, displayName: 'E2E routing app', kind: 'native', redirectUris: ['http://127.0.0.1/callback'], allowedTenants: ['acme', 'globex'] },
      { clientId: ACME_ONLY_CLIENT_ID, displayName: 'Acme-only app', kind: 'native', redirectUris: ['http://127.0.0.1/callback'], allowedTenants: ['acme'] },
    ],
  });

  beforeAll(() => {
    const { issuer } = handle.cluster();
    partner?.on(
      'request',
      createDevIdp({
        config: {
          entityId: `${partnerUrl}/metadata`,
          baseUrl: partnerUrl,
          signing: PARTNER_KEYS,
          users: [{ ...ALICE_AT_PARTNER, givenName: 'Alice', surname: 'Anderson' }],
          serviceProviders: [{ entityId: `${issuer}/saml/acme-partner-idp/metadata`, acsUrls: [`${issuer}/saml/acme-partner-idp/acs`] }],
        },
        logger: createLogger({ service: 'partner-idp', level: 'silent' }),
      }),
    );
  });

  const client = () => discover(handle.cluster(), CLIENT_ID, undefined, ES256_CLIENT);
  /** The redirects of `page` followed while they stay at the broker: the first answer leaving it. */
  const followAtIssuer = async (journey: Journey, page: Page): Promise<Page> => {
    let hop = page;
    while (redirectTarget(hop).origin === journey.cluster.issuer) hop = await journey.get(redirectTarget(hop));
    return hop;
  };
  /**
   * From an authorization answered from the session alone to the portal's confirmation page of a
   * native app (the consent page), and its Allow: the redirect that follows.
   */
  const confirmNativeApp = async (journey: Journey, authorization: Page): Promise<Page> => {
    const page = await journey.get(redirectTarget(authorization));
    expect(page.status, page.body.slice(0, 300)).toBe(200);
    expect(page.body).toContain('value="allow"');
    return journey.submit(page, { decision: 'allow' });
  };
  /** The origins a journey visited. */
  const origins = (journey: Journey): Set<string> => new Set(journey.hops.map((hop) => new URL(hop.url).origin));

  it('two connections on one tenant: a picker lists both, and each choice goes to its own IdP', async () => {
    const cluster = handle.cluster();
    const config = await client();
    const subs: string[] = [];
    for (const [connectionId, idpUrl, person] of [
      ['acme-dev-idp', cluster.idpUrl, ALICE],
      ['acme-partner-idp', partnerUrl, ALICE_AT_PARTNER],
    ] as const) {
      const request = await authorizationRequest(config, loopbackRedirectUri(), { login_hint: ALICE.email });
      const journey = new Journey(cluster);
      const { uid, page: picker } = await openAuthorization(journey, request);
      expect(isPickerPage(picker), picker.body.slice(0, 500)).toBe(true);
      expect(picker.body).toContain('Acme Corporation');
      expect(pickerChoices(picker)).toEqual([
        ['acme-dev-idp', 'Acme dev IdP'],
        ['acme-partner-idp', 'Acme partner IdP'],
      ]);
      const chosen = await journey.submit(picker, { connection: connectionId }, '/connection');
      const form = await toIdpLoginForm(journey, chosen, connectionId, idpUrl);
      const { acs } = await signInAtIdp(journey, form, person, connectionId);
      const callback = await completeInteraction(journey, acs, uid, request);
      // Only the chosen IdP was visited.
      expect(origins(journey)).toEqual(new Set([cluster.issuer, idpUrl]));
      const { claims } = await redeem(config, callback, request);
      expect(claims).toMatchObject({ tenant: 'acme', email: ALICE.email, given_name: 'Alice' });
      subs.push(claims.sub);
    }
    // Users are matched by tenant and user ID (here the email NameID), whichever connection asserts it.
    expect(subs[1]).toBe(subs[0]);
  });

  it('idp_hint picks the connection without the picker; an unknown one is refused', async () => {
    const cluster = handle.cluster();
    const config = await client();
    const request = await authorizationRequest(config, loopbackRedirectUri(), { login_hint: ALICE.email, idp_hint: 'acme-partner-idp' });
    const { callback, journey } = await loginThrough(cluster, request, ALICE_AT_PARTNER, { connectionId: 'acme-partner-idp', idpUrl: partnerUrl });
    expect(journey.hops.some((hop) => isPickerPage(hop))).toBe(false);
    expect(origins(journey)).toEqual(new Set([cluster.issuer, partnerUrl]));
    expect((await redeem(config, callback, request)).claims).toMatchObject({ tenant: 'acme', email: ALICE.email });

    const logged = cluster.logEntries('auth-portal').length;
    const unknown = await authorizationRequest(config, loopbackRedirectUri(), { login_hint: ALICE.email, idp_hint: 'globex-dev-idp' });
    const { page } = await openAuthorization(new Journey(cluster), unknown);
    expect(page.status).toBe(404);
    expect(page.body).toContain('This sign-in method does not exist for your organization.');
    expect(await loggedRejections(cluster, 'auth-portal', logged)).toEqual(['tenant.unknown_connection']);
  });

  it('an email domain routes to its tenant: gina@globex.test to Globex’s IdP, alice@acme.test to Acme’s picker, an unknown domain nowhere', async () => {
    const cluster = handle.cluster();
    const config = await client();
    const request = await authorizationRequest(config, loopbackRedirectUri());
    const { callback } = await loginThrough(cluster, request, personOf(GINA), { connectionId: 'globex-dev-idp', typeEmail: GINA.email });
    expect((await redeem(config, callback, request)).claims).toMatchObject({ tenant: 'globex', email: GINA.email, family_name: 'Garcia' });

    const acme = await authorizationRequest(config, loopbackRedirectUri());
    const journey = new Journey(cluster);
    const { page: discovery } = await openAuthorization(journey, acme);
    expect(isDiscoveryPage(discovery)).toBe(true);
    const picker = await journey.submit(discovery, { email: 'Alice@ACME.test' }, '/discover');
    expect(isPickerPage(picker), picker.body.slice(0, 500)).toBe(true);
    expect(picker.body).toContain('Acme Corporation');

    const unknown = await journey.submit(discovery, { email: 'someone@initech.test' }, '/discover');
    expect(unknown.status).toBe(404);
    expect(isDiscoveryPage(unknown), unknown.body).toBe(true);
    expect(unknown.body).toContain('We do not know an organization for this email address.');

    // The same routing, for apps, at /realm.
    const realm = await fetch(`${cluster.issuer}/realm?email=${encodeURIComponent(GINA.email)}`);
    expect(await realm.json()).toMatchObject({ tenant: 'globex', displayName: 'Globex', signOnType: 'saml' });
    expect((await fetch(`${cluster.issuer}/realm?email=someone@initech.test`)).status).toBe(404);
  });

  it('a session of one tenant is no sign-in for an app that tenant may not use (no code, login_required under prompt=none); another tenant’s user signs in there in place of it', async () => {
    const cluster = handle.cluster();
    const config = await client();
    // Gina (Globex) signs in to the app both tenants may use.
    const first = await authorizationRequest(config, loopbackRedirectUri());
    const { callback, journey } = await loginThrough(cluster, first, personOf(GINA), { connectionId: 'globex-dev-idp', typeEmail: GINA.email });
    expect((await redeem(config, callback, first)).claims).toMatchObject({ tenant: 'globex' });

    // Same browser, the Acme-only app: the Globex session must not sign her in there.
    const acmeOnly = await discover(cluster, ACME_ONLY_CLIENT_ID, undefined, ES256_CLIENT);
    const visits = journey.hops.length;
    const request = await authorizationRequest(acmeOnly, loopbackRedirectUri());
    const { page } = await openAuthorization(journey, request);
    expect(isDiscoveryPage(page), page.body.slice(0, 500)).toBe(true);
    expect(journey.hops.slice(visits).some((hop) => hop.location?.includes('code='))).toBe(false);

    const silent = await authorizationRequest(acmeOnly, loopbackRedirectUri(), { prompt: 'none' });
    const answer = redirectTarget(await journey.get(silent.url));
    expect(`${answer.origin}${answer.pathname}`).toBe(silent.redirectUri);
    expect(answer.searchParams.get('code')).toBeNull();
    expect(answer.searchParams.get('error')).toBe('login_required');

    // Typing her Globex address there is refused by the portal, as before.
    const refused = await journey.submit(page, { email: GINA.email }, '/discover');
    expect(refused.status).toBe(403);
    expect(refused.body).toContain('Your organization cannot sign in to this application.');

    // Her session still signs her in to the app Globex may use, without the IdP: the authorization,
    // the portal's page asking her to confirm the (native) app, which any app on the device could
    // pass itself off as without an IdP step (RFC 8252 section 8.6), the resumed authorization.
    const again = await authorizationRequest(config, loopbackRedirectUri());
    const from = journey.hops.length;
    const callbackPage = await followAtIssuer(journey, await confirmNativeApp(journey, await journey.get(again.url)));
    expect(journey.paths(from).every((path) => path.startsWith(cluster.issuer))).toBe(true);
    expect((await redeem(config, callbackOf(callbackPage, again), again)).claims).toMatchObject({ tenant: 'globex', email: GINA.email });

    // Alice (Acme) signs in there in the same browser: the Globex session ends first (oidc-provider's
    // logout confirmation, auto-posted), then the app gets Alice's code.
    const switched = await authorizationRequest(acmeOnly, loopbackRedirectUri(), { login_hint: ALICE.email, idp_hint: 'acme-dev-idp' });
    const started = await openAuthorization(journey, switched);
    const form = await toIdpLoginForm(journey, started.page, 'acme-dev-idp', cluster.idpUrl);
    const { acs } = await signInAtIdp(journey, form, ALICE, 'acme-dev-idp');
    const resume = redirectTarget(await journey.get(redirectTarget(acs)));
    expect(`${resume.origin}${resume.pathname}`).toBe(`${cluster.issuer}/authorize/${started.uid}`);
    const confirm = await journey.get(resume);
    expect(confirm.status, confirm.body.slice(0, 500)).toBe(200);
    expect(confirm.body).toContain('logout');
    const landed = await followAtIssuer(journey, await journey.submit(confirm));
    expect((await redeem(acmeOnly, callbackOf(landed, switched), switched)).claims).toMatchObject({ tenant: 'acme', email: ALICE.email });

    // The browser's session is Alice's now, for the other app too.
    const after = await authorizationRequest(config, loopbackRedirectUri());
    const afterCallback = callbackOf(await followAtIssuer(journey, await confirmNativeApp(journey, await journey.get(after.url))), after);
    expect((await redeem(config, afterCallback, after)).claims).toMatchObject({ tenant: 'acme', email: ALICE.email });
  });
});
