// Helpers for the e2e suites that configure their own tenants, connections and dev IdP users
// (tenants-*.test.ts, idp-initiated.test.ts): a login through any connection and any IdP, every
// hop asserted, and the pieces of it (to stop at a refusal, or to start from the IdP).
import * as oidc from 'openid-client';
import { afterAll, expect } from 'vitest';
import { createRedisStore, type Store } from '@broker/store';
import { parseForm, TestBrowser, type Page, type SplitCluster, type SplitClusterOptions } from '@broker/testing';
import { redisUrl, type AuthorizationRequest, type ClusterHandle, type Person } from './support.ts';

/** What `SplitClusterOptions.tenants` is called with: the cluster's URLs and the dev IdP's certificate file. */
export type ClusterContext = Parameters<NonNullable<SplitClusterOptions['tenants']>>[0];
/** A tenant of the broker configuration, as written. */
export type TenantInput = ReturnType<NonNullable<SplitClusterOptions['tenants']>>[number];
/** A connection of a tenant, as written. */
export type ConnectionInput = NonNullable<TenantInput['connections']>[number];
/** A dev IdP user, as written. */
export type DevIdpUserInput = NonNullable<SplitClusterOptions['devIdpUsers']>[number];

export const PASSWORD_PROTECTED_TRANSPORT = 'urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport';
export const MULTIPLE_AUTHN = 'http://schemas.microsoft.com/claims/multipleauthn';
export const NAMEID_PERSISTENT = 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent';

/**
 * A connection to the cluster's dev IdP: its entity ID, SSO URL and signing certificate, both
 * signatures required, an email NameID; `connection` adds to or overrides that.
 */
export function devIdpConnection(context: ClusterContext, connection: Omit<ConnectionInput, 'idp'> & { idp?: ConnectionInput['idp'] }): ConnectionInput {
  return {
    idp: { entityId: `${context.idpUrl}/metadata`, ssoUrl: `${context.idpUrl}/sso`, certificates: [{ file: context.idpCertificateFile }] },
    wantAssertionsSigned: true,
    wantResponseSigned: true,
    nameIdFormat: 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress',
    ...connection,
  };
}

/** A dev IdP user whose email is `<username>@<domain>`, password `<username>-password`. */
export function devIdpUser(username: string, domain: string, names: { givenName: string; surname: string }, extra: Partial<DevIdpUserInput> = {}): DevIdpUserInput {
  return { username, password: `${username}-password`, email: `${username}@${domain}`, ...names, ...extra };
}

/** The person who signs in as a dev IdP user. */
export const personOf = (user: DevIdpUserInput): Person => ({ username: user.username, password: user.password, email: user.email });

/** The target of a 3xx answer (asserted to be one). */
export function redirectTarget(page: Page): URL {
  expect(page.status, `${page.url} should redirect; it answered ${page.status}:\n${page.body.slice(0, 500)}`).toBeGreaterThanOrEqual(300);
  expect(page.status).toBeLessThan(400);
  expect(page.location, `${page.url}: no Location`).toBeDefined();
  return new URL(page.location ?? '');
}

/** One person's browser through a login: a cookie jar, and every request it made, in order. */
export class Journey {
  readonly browser: TestBrowser;
  readonly hops: Page[] = [];

  constructor(
    readonly cluster: SplitCluster,
    browser: TestBrowser = new TestBrowser(),
  ) {
    this.browser = browser;
  }

  async get(url: string | URL): Promise<Page> {
    return this.record(this.browser.get(typeof url === 'string' ? url : url.href));
  }

  async post(url: string, form: Record<string, string>): Promise<Page> {
    return this.record(this.browser.post(url, form));
  }

  async submit(page: Page, values: Record<string, string> = {}, actionContains?: string): Promise<Page> {
    return this.record(this.browser.submit(page, values, actionContains));
  }

  /** The URLs requested so far (path and query), from `from` on. */
  paths(from = 0): string[] {
    return this.hops.slice(from).map((hop) => {
      const url = new URL(hop.url);
      return `${url.origin}${url.pathname}`;
    });
  }

  private async record(request: Promise<Page>): Promise<Page> {
    const page = await request;
    this.hops.push(page);
    return page;
  }
}

/** The authorization request up to the interaction's first answer (discovery page, picker, or hand-off redirect). */
export async function openAuthorization(journey: Journey, request: AuthorizationRequest): Promise<{ uid: string; page: Page }> {
  const next = redirectTarget(await journey.get(request.url));
  expect(next.origin).toBe(journey.cluster.issuer);
  const uid = /^\/interaction\/([^/]+)$/.exec(next.pathname)?.[1];
  expect(uid, `interaction URL: ${next.href}`).toBeDefined();
  return { uid: uid ?? '', page: await journey.get(next) };
}

export const isDiscoveryPage = (page: Page): boolean => page.body.includes('<label for="email">Work email</label>');
export const isPickerPage = (page: Page): boolean => page.status === 200 && page.body.includes('Choose how to sign in');

/** The connections a picker page offers: [id, label] in order. */
export function pickerChoices(page: Page): Array<[string, string]> {
  return [...page.body.matchAll(/<button type="submit" name="connection" value="([^"]+)">([^<]*)<\/button>/g)].map((m) => [m[1] ?? '', m[2] ?? '']);
}

/**
 * From the portal's hand-off (a 303 to /saml/<connection>/login) to the IdP's login form,
 * asserting the AuthnRequest goes to `idpUrl`.
 */
export async function toIdpLoginForm(journey: Journey, handoff: Page, connectionId: string, idpUrl: string): Promise<Page> {
  let next = redirectTarget(handoff);
  expect(next.origin).toBe(journey.cluster.issuer);
  expect(next.pathname).toBe(`/saml/${connectionId}/login`);
  next = redirectTarget(await journey.get(next));
  expect(`${next.origin}${next.pathname}`).toBe(`${idpUrl}/sso`);
  expect(next.searchParams.get('SAMLRequest')).toBeTruthy();
  const form = await journey.get(next);
  expect(form.status, form.body.slice(0, 500)).toBe(200);
  expect(form.body).toContain(`${journey.cluster.issuer}/saml/${connectionId}/metadata`);
  return form;
}

/**
 * Sign in on an IdP's login form and let its auto-POST form reach the broker's ACS. Returns the
 * ACS's answer and the fields that were posted (SAMLResponse, RelayState).
 */
export async function signInAtIdp(journey: Journey, form: Page, person: Pick<Person, 'username' | 'password'>, connectionId: string): Promise<{ acs: Page; posted: Record<string, string> }> {
  const autoPost = await journey.submit(form, { username: person.username, password: person.password });
  expect(autoPost.status, autoPost.body.slice(0, 500)).toBe(200);
  const posted = parseForm(autoPost.body, autoPost.url).fields;
  expect(posted['SAMLResponse']).toBeTruthy();
  const acs = await journey.submit(autoPost);
  expect(acs.url).toBe(`${journey.cluster.issuer}/saml/${connectionId}/acs`);
  return { acs, posted };
}

/** From the ACS's answer for an interaction to the code at the app's redirect URI. */
export async function completeInteraction(journey: Journey, acs: Page, uid: string, request: AuthorizationRequest): Promise<URL> {
  const { issuer } = journey.cluster;
  let next = redirectTarget(acs);
  expect(next.origin).toBe(issuer);
  expect(next.pathname).toBe(`/interaction/${uid}/complete`);
  next = redirectTarget(await journey.get(next));
  expect(`${next.origin}${next.pathname}`).toBe(`${issuer}/authorize/${uid}`);
  return callbackOf(await journey.get(next), request);
}

/** The redirect to the app with a code (asserted: state, iss, no error). */
export function callbackOf(page: Page, request: AuthorizationRequest): URL {
  const callback = redirectTarget(page);
  expect(`${callback.origin}${callback.pathname}`).toBe(request.redirectUri);
  expect(callback.searchParams.get('error'), callback.searchParams.get('error_description') ?? '').toBeNull();
  expect(callback.searchParams.get('code')).toBeTruthy();
  expect(callback.searchParams.get('state')).toBe(request.state);
  expect(callback.searchParams.get('iss')).toBe(new URL(page.url).origin);
  return callback;
}

export interface LoginRoute {
  /** The connection the login must go through. */
  connectionId: string;
  /** The IdP that connection sends the person to (default: the cluster's dev IdP). */
  idpUrl?: string;
  /** Typed on the discovery page, when it is expected. */
  typeEmail?: string;
  /** Chosen on the connection picker, when it is expected. */
  pick?: string;
}

/** Up to the broker's ACS answer: authorization, discovery or picker as `route` says, the IdP. */
export async function loginToAcs(journey: Journey, request: AuthorizationRequest, person: Person, route: LoginRoute): Promise<{ uid: string; acs: Page; posted: Record<string, string> }> {
  const { uid, page: first } = await openAuthorization(journey, request);
  let page = first;
  if (route.typeEmail !== undefined) {
    expect(isDiscoveryPage(page), page.body.slice(0, 500)).toBe(true);
    page = await journey.submit(page, { email: route.typeEmail }, '/discover');
  }
  if (route.pick !== undefined) {
    expect(isPickerPage(page), page.body.slice(0, 500)).toBe(true);
    page = await journey.submit(page, { connection: route.pick }, '/connection');
  }
  const form = await toIdpLoginForm(journey, page, route.connectionId, route.idpUrl ?? journey.cluster.idpUrl);
  const { acs, posted } = await signInAtIdp(journey, form, person, route.connectionId);
  return { uid, acs, posted };
}

/** A whole login, to the code at the redirect URI. */
export async function loginThrough(cluster: SplitCluster, request: AuthorizationRequest, person: Person, route: LoginRoute): Promise<{ callback: URL; journey: Journey }> {
  const journey = new Journey(cluster);
  const { uid, acs } = await loginToAcs(journey, request, person, route);
  return { callback: await completeInteraction(journey, acs, uid, request), journey };
}

/** Redeem the code (openid-client checks state, iss, nonce and the ID token); the ID token claims. */
export async function redeem(config: oidc.Configuration, callback: URL, request: AuthorizationRequest): Promise<{ tokens: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers; claims: oidc.IDToken }> {
  const tokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: request.verifier, expectedState: request.state, expectedNonce: request.nonce, idTokenExpected: true });
  const claims = tokens.claims();
  if (!claims) throw new Error('no ID token');
  return { tokens, claims };
}

/**
 * The codes of the refusals a process logged (`rejected: <code>`) after its first `since` log
 * entries. The processes write their logs asynchronously: this waits (up to 3 s) until there are
 * at least `atLeast` of them.
 */
export async function loggedRejections(cluster: SplitCluster, name: 'auth-portal' | 'authn-service', since: number, atLeast = 1): Promise<string[]> {
  const codes = (): string[] =>
    cluster
      .logEntries(name)
      .slice(since)
      .filter((entry) => typeof entry['msg'] === 'string' && entry['msg'].startsWith('rejected: '))
      .map((entry) => String(entry['code']));
  const deadline = Date.now() + 3_000;
  while (codes().length < atLeast && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 25));
  return codes();
}

/**
 * The broker's store on a cluster's Redis keys (as an administration tool would use it), opened
 * on first use and closed after the file's tests.
 */
export function useBrokerStore(handle: ClusterHandle): () => Store {
  let opened: Store | undefined;
  afterAll(async () => {
    await opened?.close();
  });
  return () => (opened ??= createRedisStore({ url: redisUrl, keyPrefix: handle.keyPrefix }));
}
