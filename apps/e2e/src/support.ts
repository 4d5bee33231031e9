// Shared by the e2e suites: the split cluster per test file on a real Redis, an OIDC relying
// party (openid-client), and a person signing in through every hop with a TestBrowser.
import { randomUUID } from 'node:crypto';
import { inflateRawSync } from 'node:zlib';
import { Redis } from 'ioredis';
import * as oidc from 'openid-client';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { scanKeys } from '@broker/store';
import { redisTestSupport } from '@broker/store/testing';
import { SPLIT_PROCESS_NAMES, startSplitCluster, TestBrowser, type Page, type SplitCluster, type SplitClusterClient, type SplitClusterOptions } from '@broker/testing';

export const redisUrl = redisTestSupport.redisTestUrl();
/** Probed once per test file, before the suites are declared (describe.skipIf needs it). */
export const redisUp = await redisTestSupport.redisAvailable(redisUrl);
/** For `describe.skipIf`: skip (loudly) without Redis outside CI; in CI the suite runs and fails. */
export const skipWithoutRedis = (): boolean => redisTestSupport.skipRedisTests(redisUp, redisUrl);

export const CONNECTION_ACS_PATH = '/saml/acme-dev-idp/acs';

export interface ClusterHandle {
  /** The running cluster (throws when beforeAll did not start one). */
  cluster(): SplitCluster;
  /** The Redis key prefix of this file's cluster. */
  keyPrefix: string;
  /** Keys under this file's prefix, with the prefix removed. */
  redisKeys(pattern?: string): Promise<string[]>;
}

/** What a test file may add to its cluster: clients, resource servers, signing keys. */
export type ClusterOptions = Omit<SplitClusterOptions, 'redisUrl' | 'keyPrefix' | 'logDir'>;

/**
 * Start the split cluster in beforeAll (one per test file, its own Redis key prefix) and stop it
 * in afterAll, deleting every key under the prefix. When a test fails, the processes' output is
 * written to stderr. E2E_LOG_DIR=<dir> also keeps each process's output in <dir>/<name>.log.
 */
export function useSplitCluster(options: ClusterOptions = {}): ClusterHandle {
  const keyPrefix = `e2e:${randomUUID()}:`;
  let cluster: SplitCluster | undefined;
  let admin: Redis | undefined;

  beforeAll(async () => {
    redisTestSupport.requireRedisInCi(redisUp, redisUrl);
    admin = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
    const logDir = process.env['E2E_LOG_DIR'];
    cluster = await startSplitCluster({ ...options, redisUrl, keyPrefix, ...(logDir ? { logDir } : {}) });
  }, 60_000);

  afterEach(({ task }) => {
    // (An `it.fails` test, one expected to fail, has failed as expected here: nothing to show.)
    if (task.result?.state !== 'fail' || task.fails || !cluster) return;
    const running = cluster;
    const dump = SPLIT_PROCESS_NAMES.map((name) => `--- ${name} ---\n${running.logs(name).slice(-6_000)}`).join('\n');
    process.stderr.write(`\n[e2e] "${task.name}" failed; split cluster output:\n${dump}\n`);
  });

  afterAll(async () => {
    await cluster?.stop();
    if (admin) {
      await redisTestSupport.deleteKeysUnder(admin, keyPrefix);
      await admin.quit();
    }
  }, 30_000);

  return {
    keyPrefix,
    cluster: () => {
      if (!cluster) throw new Error('the split cluster is not running (see beforeAll)');
      return cluster;
    },
    redisKeys: async (pattern = '*') => {
      if (!admin) throw new Error('no Redis connection');
      return (await scanKeys(admin, `${keyPrefix}${pattern}`)).map((key) => key.slice(keyPrefix.length));
    },
  };
}


/**
 * The relying party: openid-client configured from the issuer's discovery document. `metadata`
 * adds client metadata, e.g. `{ id_token_signed_response_alg: 'ES256' }`.
 */
export function discover(cluster: SplitCluster, clientId: string, auth: oidc.ClientAuth = oidc.None(), metadata?: Partial<oidc.ClientMetadata>): Promise<oidc.Configuration> {
  return oidc.discovery(new URL(cluster.issuer), clientId, metadata, auth, {
    // The test issuer is http://localhost; production issuers are https. Non-repudiation checks:
    // openid-client also verifies the ID token's signature against the issuer's JWKS.
    execute: [oidc.allowInsecureRequests, oidc.enableNonRepudiationChecks],
  });
}

/** A loopback redirect URI on an arbitrary port (RFC 8252 section 7.3): nothing listens there. */
export const loopbackRedirectUri = (): string => `http://127.0.0.1:${49_152 + Math.floor(Math.random() * 16_000)}/callback`;

export interface AuthorizationRequest {
  url: URL;
  redirectUri: string;
  verifier: string;
  state: string;
  nonce: string;
}

/** An authorization URL with PKCE S256, state and nonce; `extra` adds parameters (tenant, login_hint...). */
export async function authorizationRequest(config: oidc.Configuration, redirectUri: string, extra: Record<string, string> = {}): Promise<AuthorizationRequest> {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: 'openid email profile',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    ...extra,
  });
  return { url, redirectUri, verifier, state, nonce };
}

export interface Person {
  username: string;
  password: string;
  email: string;
}
export const ALICE: Person = { username: 'alice', password: 'alice-password', email: 'alice@acme.test' };
export const BOB: Person = { username: 'bob', password: 'bob-password', email: 'bob@acme.test' };

export interface SignIn {
  /** The redirect URI with code, state and iss: where the browser would go next. */
  callback: URL;
  /** Every request the browser made, in order. */
  hops: Page[];
  /** The AuthnRequest the broker sent to the IdP (inflated XML). */
  authnRequestXml: string;
}

/**
 * A person signs in, from the authorization URL to the redirect back to the app, through every
 * hop of split mode, each asserted: portal (authorization, interaction, maybe the email page)
 * -> authn-service (/saml/.../login) -> dev IdP SSO and login form -> auto-POST to the ACS on the
 * issuer origin (authn-service) -> portal (interaction complete, authorization resume) -> the
 * redirect URI. Stops there: nothing listens at the redirect URI.
 */
export async function signIn(
  cluster: SplitCluster,
  request: AuthorizationRequest,
  person: Person,
  options: {
    expectEmailPage: boolean;
    /**
     * After the login, a second interaction for consent (prompt=consent), which the portal
     * grants without a page for first-party clients before resuming the authorization.
     */
    expectConsentStep?: boolean;
  },
): Promise<SignIn> {
  const { issuer, idpUrl } = cluster;
  const browser = new TestBrowser();
  const hops: Page[] = [];
  const go = async (action: Promise<Page>): Promise<Page> => {
    const page = await action;
    hops.push(page);
    return page;
  };
  const redirectTo = (page: Page): URL => {
    expect(page.status, `${page.url} should redirect; it answered:\n${page.body.slice(0, 500)}`).toBeGreaterThanOrEqual(300);
    expect(page.status).toBeLessThan(400);
    expect(page.location).toBeDefined();
    return new URL(page.location ?? '');
  };

  // 1. Authorization endpoint (auth-portal, through the proxy) -> the interaction.
  let page = await go(browser.get(request.url.href));
  let next = redirectTo(page);
  expect(next.origin).toBe(issuer);
  const uid = /^\/interaction\/([^/]+)$/.exec(next.pathname)?.[1];
  expect(uid, `interaction URL: ${next.href}`).toBeDefined();

  // 2. The interaction: the email page (home-realm discovery), or straight on to the tenant's IdP.
  page = await go(browser.get(next.href));
  if (options.expectEmailPage) {
    expect(page.status).toBe(200);
    expect(page.body).toContain('Work email');
    page = await go(browser.submit(page, { email: person.email }, '/discover'));
    expect(page.url).toBe(`${issuer}/interaction/${uid ?? ''}/discover`);
  } else {
    expect(page.body).not.toContain('Work email');
  }
  next = redirectTo(page);
  expect(next.origin).toBe(issuer);
  expect(next.pathname).toBe('/saml/acme-dev-idp/login');
  expect(next.searchParams.get('interaction')).toBe(uid);

  // 3. authn-service sends the AuthnRequest to the dev IdP (HTTP-Redirect binding).
  page = await go(browser.get(next.href));
  next = redirectTo(page);
  expect(next.origin).toBe(idpUrl);
  expect(next.pathname).toBe('/sso');
  expect(next.searchParams.get('RelayState')).toBeTruthy();
  const samlRequest = next.searchParams.get('SAMLRequest') ?? '';
  const authnRequestXml = inflateRawSync(Buffer.from(samlRequest, 'base64')).toString('utf8');
  expect(authnRequestXml).toContain(`AssertionConsumerServiceURL="${issuer}${CONNECTION_ACS_PATH}"`);
  expect(authnRequestXml).toContain(`${issuer}/saml/acme-dev-idp/metadata</saml:Issuer>`);
  expect(authnRequestXml).toContain(`Destination="${idpUrl}/sso"`);

  // 4. The dev IdP's login form, then its auto-POST form to the broker's ACS.
  page = await go(browser.get(next.href));
  expect(page.status).toBe(200);
  expect(page.body).toContain(`${issuer}/saml/acme-dev-idp/metadata`);
  page = await go(browser.submit(page, { username: person.username, password: person.password }));
  expect(page.url).toBe(`${idpUrl}/login`);
  expect(page.status).toBe(200);
  page = await go(browser.submit(page));
  expect(page.url).toBe(`${issuer}${CONNECTION_ACS_PATH}`);

  // 5. The ACS (authn-service) hands the result back to the portal's interaction.
  next = redirectTo(page);
  expect(next.origin).toBe(issuer);
  expect(next.pathname).toBe(`/interaction/${uid ?? ''}/complete`);
  expect(next.searchParams.get('result')).toBeTruthy();

  // 6. The portal finishes the interaction and resumes the authorization request.
  page = await go(browser.get(next.href));
  next = redirectTo(page);
  expect(next.origin).toBe(issuer);
  expect(next.pathname).toBe(`/authorize/${uid ?? ''}`);

  // 7. The resumed authorization request answers with the code at the redirect URI (after a
  //    consent interaction the portal finishes at once, when prompt=consent asks for one).
  page = await go(browser.get(next.href));
  if (options.expectConsentStep) {
    next = redirectTo(page);
    expect(next.origin).toBe(issuer);
    const consentUid = /^\/interaction\/([^/]+)$/.exec(next.pathname)?.[1];
    expect(consentUid, `consent interaction URL: ${next.href}`).toBeDefined();
    page = await go(browser.get(next.href));
    expect(page.body).not.toContain('<form');
    next = redirectTo(page);
    expect(next.origin).toBe(issuer);
    expect(next.pathname).toBe(`/authorize/${consentUid ?? ''}`);
    page = await go(browser.get(next.href));
  }
  const callback = redirectTo(page);
  expect(`${callback.origin}${callback.pathname}`).toBe(request.redirectUri);
  expect(callback.searchParams.get('code')).toBeTruthy();
  expect(callback.searchParams.get('state')).toBe(request.state);
  expect(callback.searchParams.get('iss')).toBe(issuer);
  expect(callback.searchParams.get('error')).toBeNull();
  return { callback, hops, authnRequestXml };
}

/** POST to the token endpoint as a raw form, for what openid-client would not send. */
export async function postToken(cluster: SplitCluster, form: Record<string, string>, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${cluster.issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', ...headers },
    body: new URLSearchParams(form).toString(),
  });
  const text = await response.text();
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = { raw: text };
  }
  return { status: response.status, body };
}

/** The redirect URI a code was issued for: the callback URL without its query. */
export const redirectUriOf = (callback: URL): string => `${callback.origin}${callback.pathname}`;

/** The origin of the e2e SPA: where it runs in the browser, and its only CORS origin. */
export const SPA_ORIGIN = 'http://localhost:5173';
/** A browser app (public, PKCE), allowed to call the token, userinfo and revocation endpoints from SPA_ORIGIN. */
export const SPA_CLIENT: SplitClusterClient = {
  clientId: 'e2e-spa',
  displayName: 'E2E single-page app',
  kind: 'spa',
  redirectUris: [`${SPA_ORIGIN}/callback`],
  corsOrigins: [SPA_ORIGIN],
  allowedTenants: ['acme'],
};
/** Client metadata openid-client needs for the broker's default ID token signature. */
export const ES256_CLIENT: Partial<oidc.ClientMetadata> = { id_token_signed_response_alg: 'ES256' };

/** What a promise rejected with, or undefined when it fulfilled (for asserting on errors). */
export const rejection = (promise: Promise<unknown>): Promise<unknown> =>
  promise.then(
    () => undefined,
    (error: unknown) => error,
  );

/**
 * Send every request of an openid-client configuration with an Origin header, as a browser app
 * would; `onResponse` sees each response (its CORS headers, say).
 */
export function sendOrigin(config: oidc.Configuration, origin: string, onResponse?: (url: URL, response: Response) => void): void {
  config[oidc.customFetch] = async (url, options) => {
    const response = await fetch(url, { ...options, body: options.body as RequestInit['body'], headers: { ...options.headers, origin } });
    onResponse?.(new URL(url), response);
    return response;
  };
}

/** The `error` of a WWW-Authenticate challenge openid-client threw (e.g. invalid_token at userinfo). */
export function challengeError(error: unknown): string | undefined {
  if (!(error instanceof oidc.WWWAuthenticateChallengeError)) return undefined;
  return error.cause[0]?.parameters.error;
}
