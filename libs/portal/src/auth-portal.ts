import express, { type Request, type RequestHandler, type Response, type Router } from 'express';
import type { ResolvedTenant } from '@broker/config';
import { BrokerError, badRequest, notFound } from '@broker/http';
import { browserBinding, LOGIN_LINK_COOKIE, matchesBrowserBinding, PENDING_LOGIN_COOKIE, PENDING_LOGIN_TTL_SECONDS, type ClientRecord, type ClientRegistry, type Directory, type LoginHandoff, type LoginResult } from '@broker/identity';
import { OIDC_ROUTES, type Provider } from '@broker/oidc';
import type { Logger } from '@broker/telemetry';
import { confirmLoginPage, consentPage, discoveryPage, pickerPage } from './pages.ts';

/** One cookie's value from the Cookie header: undefined when absent, '' when it does not decode. */
function cookieValue(req: Request, name: string): string | undefined {
  for (const part of (req.get('cookie') ?? '').split(';')) {
    const [key, ...rest] = part.trim().split('=');
    if (key !== name) continue;
    try {
      return decodeURIComponent(rest.join('='));
    } catch {
      return '';
    }
  }
  return undefined;
}

export interface AuthPortalDeps {
  provider: Provider;
  directory: Directory;
  clients: ClientRegistry;
  handoff: LoginHandoff;
  logger: Logger;
  /** Cookies the portal sets are Secure (the issuer is https). */
  secureCookies: boolean;
  /** How long a login may take from its start to the app (the interaction TTL), in seconds. */
  loginTtlSeconds: number;
}

/** The oidc-provider routes the portal serves: authorization (and its resume) and logout. */
const PORTAL_OIDC_PATHS = [OIDC_ROUTES.authorization, OIDC_ROUTES.end_session];
export const isPortalOidcPath = (path: string): boolean => PORTAL_OIDC_PATHS.some((p) => path === p || path.startsWith(`${p}/`));

type Details = Awaited<ReturnType<Provider['interactionDetails']>>;

/** A urlencoded form field as a string ('' when absent or repeated). */
const formField = (req: Request, name: string): string => {
  const value = (req.body as Record<string, unknown> | undefined)?.[name];
  return typeof value === 'string' ? value : '';
};

/**
 * auth-portal: the authorization endpoint (oidc-provider) and the interactions around it:
 * home-realm discovery, the hand-off to authn-service, finishing the login, consent.
 */
export function createAuthPortalRouter(deps: AuthPortalDeps): Router {
  const { provider, directory, clients, handoff, logger } = deps;
  const router = express.Router();
  const form = express.urlencoded({ extended: false, limit: '8kb', parameterLimit: 5 });
  const callback = provider.callback() as RequestHandler;

  const interactionExpired = (reason: string) =>
    new BrokerError({
      code: 'interaction.not_found',
      status: 400,
      publicMessage: 'This sign-in has expired or was started in another browser. Please start again from the application.',
      detail: { reason },
    });
  const details = async (req: Request, res: Response): Promise<Details> => {
    try {
      return await provider.interactionDetails(req, res);
    } catch (error) {
      throw interactionExpired((error as Error).message);
    }
  };

  const clientName = async (d: Details): Promise<string> => {
    const client = await clients.find(String(d.params['client_id']));
    return client?.displayName ?? client?.clientId ?? 'the application';
  };

  /** The client of an interaction, refused when the tenant may not sign in to it. */
  const allowedClient = async (clientId: string, tenant: ResolvedTenant) => {
    const client = await clients.find(clientId);
    if (!client?.allowedTenants.includes(tenant.id)) {
      throw new BrokerError({ code: 'tenant.not_allowed', status: 403, publicMessage: 'Your organization cannot sign in to this application.', detail: { clientId, tenantId: tenant.id } });
    }
    return client;
  };

  /** A tenant that signs in through the broker; a tenant with sign-on type none is refused. */
  const samlTenant = (tenant: ResolvedTenant): ResolvedTenant => {
    if (tenant.signOnType !== 'saml' || tenant.connections.length === 0) {
      throw new BrokerError({ code: 'tenant.sso_not_configured', status: 403, publicMessage: 'Single sign-on is not set up for your organization. Ask your administrator.', detail: { tenantId: tenant.id } });
    }
    return tenant;
  };

  /**
   * Hand the login to authn-service: the connection named by idp_hint (or chosen on the picker),
   * the only one, or the picker when the tenant has several.
   */
  const startSamlLogin = async (req: Request, res: Response, d: Details, found: ResolvedTenant, chosen?: string): Promise<void> => {
    const tenant = samlTenant(found);
    const clientId = String(d.params['client_id']);
    await allowedClient(clientId, tenant);
    const wanted = chosen ?? (typeof d.params['idp_hint'] === 'string' ? d.params['idp_hint'] : undefined);
    const connection = wanted === undefined ? (tenant.connections.length === 1 ? tenant.connections[0] : undefined) : tenant.connections.find((c) => c.id === wanted);
    if (!connection) {
      if (wanted !== undefined) throw notFound('tenant.unknown_connection', 'This sign-in method does not exist for your organization.', { tenantId: tenant.id, connectionId: wanted });
      res.type('html').send(pickerPage(d.uid, tenant.displayName, tenant.connections.map((c) => ({ id: c.id, name: c.displayName ?? c.id })), tenant.id));
      return;
    }
    // prompt=login, or a broker session older than max_age: the IdP must authenticate the person
    // again, not answer from its own session (ForceAuthn; the ACS then refuses an older
    // AuthnInstant). oidc-provider also names max_age when there is no session at all; then the
    // IdP's answer stands, and auth_time (its AuthnInstant) tells the app how old it is.
    const forceAuthn = d.prompt.reasons.includes('login_prompt') || (d.prompt.reasons.includes('max_age') && d.session?.accountId !== undefined);
    await handoff.saveRequest({ kind: 'interaction', id: d.uid, tenantId: tenant.id, connectionId: connection.id, clientId, ...(forceAuthn ? { forceAuthn } : {}) });
    logger.info({ requestId: req.requestId, uid: d.uid, tenantId: tenant.id, connectionId: connection.id, clientId }, 'login handed to authn-service');
    res.redirect(303, `/saml/${encodeURIComponent(connection.id)}/login?interaction=${encodeURIComponent(d.uid)}`);
  };

  /**
   * Finish the interaction with a signed-in user: what provider.interactionFinished does (with
   * mergeWithLastSubmission false), on the interaction this request already loaded through
   * details(), which checked the interaction cookie, instead of reading it from the store again.
   */
  const finishLogin = async (res: Response, d: Details, result: LoginResult): Promise<void> => {
    const ttl = d.exp - Math.floor(Date.now() / 1000);
    if (ttl <= 0) throw interactionExpired('expired before the login finished');
    d.result = { login: { accountId: result.userId, ts: result.authTime, ...(result.acr ? { acr: result.acr } : {}), ...(result.amr.length ? { amr: result.amr } : {}) } };
    await d.save(ttl);
    res.status(303).set({ Location: d.returnTo, 'Content-Length': '0' }).end();
  };

  /**
   * A pending broker login of this browser (IdP-initiated SSO or a login link) finishes the app's
   * own authorization request without another trip to the IdP, for the app it was meant for.
   */
  const pendingLogin = async (req: Request, res: Response, d: Details): Promise<{ result: LoginResult; tenant: ResolvedTenant; client: ClientRecord } | undefined> => {
    const id = cookieValue(req, PENDING_LOGIN_COOKIE);
    if (id === undefined) return undefined;
    // Used up or unusable, it goes either way.
    res.clearCookie(PENDING_LOGIN_COOKIE, { path: '/' });
    if (!id) return undefined;
    const result = await handoff.takePendingLogin(id);
    if (!result || result.clientId !== String(d.params['client_id'])) return undefined;
    if (result.browser !== undefined) {
      // A login link's: only for the browser that opened the link. (The link cookie stays: other
      // links opened in this browser are bound to the same secret.)
      if (!matchesBrowserBinding(cookieValue(req, LOGIN_LINK_COOKIE), result.browser)) {
        logger.warn({ requestId: req.requestId, uid: d.uid, code: 'login.link_other_browser', clientId: result.clientId }, 'rejected: login.link_other_browser');
        return undefined;
      }
    }
    const tenant = await directory.tenant(result.tenantId);
    if (!tenant) return undefined;
    return { result, tenant, client: await allowedClient(result.clientId, tenant) };
  };

  router.use((req, res, next) => {
    if (isPortalOidcPath(req.path)) {
      callback(req, res, next);
      return;
    }
    next();
  });

  /**
   * What a login link names: its tenant (by organization or customer id), account, connection
   * and client. Anyone may try links, so every way one can be wrong gets the same answer
   * (asInvalidLink); the log has the real reason.
   */
  const resolveLoginLink = async (req: Request) => {
    const query = (name: string): string | undefined => (typeof req.query[name] === 'string' && req.query[name] !== '' ? req.query[name] : undefined);
    const byOrganization = query('orgExternalId') && (await directory.tenantByExternalId('organization', query('orgExternalId') ?? ''));
    const byCustomer = query('customerId') && (await directory.tenantByExternalId('customer', query('customerId') ?? ''));
    const found = byOrganization || byCustomer;
    if (!found || (byOrganization && byCustomer && byOrganization.id !== byCustomer.id)) {
      throw notFound('tenant.unknown', 'We do not know this organization.', { orgExternalId: query('orgExternalId'), customerId: query('customerId') });
    }
    const tenant = samlTenant(found);
    const accountExternalId = query('accountExternalId');
    const account = accountExternalId === undefined ? undefined : tenant.accounts.find((a) => a.externalId === accountExternalId);
    if (accountExternalId !== undefined && !account) throw notFound('tenant.unknown_account', 'We do not know this account of your organization.', { tenantId: tenant.id, accountExternalId });
    const hint = query('idp_hint');
    const connection = hint === undefined ? tenant.connections[0] : tenant.connections.find((c) => c.id === hint);
    if (!connection) throw notFound('tenant.unknown_connection', 'This sign-in method does not exist for your organization.', { tenantId: tenant.id, connectionId: hint });
    const clientId = query('client_id') ?? connection.idpInitiated.relayState;
    if (!clientId) throw badRequest('login.no_client', 'This sign-in link does not name an application.', { tenantId: tenant.id });
    const client = await allowedClient(clientId, tenant);
    if (!client.initiateLoginUri) throw badRequest('login.no_initiate_login_uri', 'This application cannot be opened from a sign-in link.', { clientId });
    return { tenant, connection, account, clientId };
  };

  /**
   * A login link refused for any reason: one status and one page, so that links cannot be used to
   * find out which organizations, accounts and applications exist. The code and detail are logged.
   */
  const asInvalidLink = (error: unknown): never => {
    if (!(error instanceof BrokerError)) throw error;
    throw new BrokerError({ code: error.code, status: 404, publicMessage: 'This sign-in link is not valid. Ask your administrator or the application for a new one.', ...(error.detail ? { detail: error.detail } : {}) });
  };

  /**
   * A login link per tenant and account (`/login/sso?orgExternalId=&customerId=&accountExternalId=`,
   * plus `client_id` and optionally `idp_hint`), for apps that start from a link: the context
   * rides through the RelayState; after the IdP the person goes to the app's login-initiation URI
   * and the app's own PKCE request completes at once.
   */
  router.get('/login/sso', async (req, res) => {
    const { tenant, connection, account, clientId } = await resolveLoginLink(req).catch(asInvalidLink);
    const id = handoff.newLinkId();
    // One secret per browser: a second link opened meanwhile must not break the first.
    const { secret, binding } = browserBinding(cookieValue(req, LOGIN_LINK_COOKIE));
    await handoff.saveRequest({ kind: 'link', id, tenantId: tenant.id, connectionId: connection.id, clientId, account: account?.id, browser: binding });
    // The login and then the app's own request must finish in this browser.
    res.cookie(LOGIN_LINK_COOKIE, secret, { httpOnly: true, sameSite: 'lax', secure: deps.secureCookies, path: '/', maxAge: (deps.loginTtlSeconds + PENDING_LOGIN_TTL_SECONDS) * 1000 });
    logger.info({ requestId: req.requestId, tenantId: tenant.id, connectionId: connection.id, clientId, account: account?.id }, 'login link handed to authn-service');
    res.redirect(303, `/saml/${encodeURIComponent(connection.id)}/login?link=${encodeURIComponent(id)}`);
  });

  /**
   * Home-realm lookup for apps: does this email's organization sign in through the broker, and is
   * single sign-on enforced (so the app hides its password form)?
   */
  router.get('/realm', async (req, res) => {
    const email = typeof req.query['email'] === 'string' ? req.query['email'] : '';
    const tenant = email ? await directory.tenantForEmail(email) : undefined;
    res.setHeader('Cache-Control', 'no-store');
    if (!tenant) {
      res.status(404).json({ error: 'unknown_realm' });
      return;
    }
    res.json({ tenant: tenant.id, displayName: tenant.displayName, signOnType: tenant.signOnType, ssoEnforced: tenant.ssoEnforced });
  });

  router.get('/interaction/:uid', async (req, res) => {
    const d = await details(req, res);
    if (d.prompt.name === 'consent') {
      // First-party clients see no consent screen, even when they ask for one (prompt=consent,
      // which OIDC requires for offline_access). Except a native client signing in from an
      // existing session with no IdP step (native_client_prompt): any app on the device can use
      // its client_id and a loopback port or its URL scheme (RFC 8252 section 8.6), so the person
      // confirms that they are signing in to it.
      const nativeWithoutLogin = d.prompt.reasons.includes('native_client_prompt');
      if (!nativeWithoutLogin && (await clients.find(String(d.params['client_id'])))?.firstParty) return grantConsent(req, res, d);
      const scopes = (typeof d.params['scope'] === 'string' ? d.params['scope'] : 'openid').split(' ');
      res.type('html').send(consentPage(d.uid, await clientName(d), scopes));
      return;
    }
    const pending = await pendingLogin(req, res, d);
    // A login link's is bound to this browser; an IdP-initiated one could have been posted by
    // anyone's page (login CSRF): the person confirms who is signing in first.
    if (pending && pending.result.browser !== undefined) return finishLogin(res, d, pending.result);
    if (pending) {
      const { result, tenant, client } = pending;
      const resultId = await handoff.saveResult({ ...result, uid: d.uid }, PENDING_LOGIN_TTL_SECONDS);
      res.setHeader('Cache-Control', 'no-store');
      res.type('html').send(confirmLoginPage(d.uid, resultId, client.displayName ?? client.clientId, result.who ?? 'the account you signed in with', tenant.displayName));
      return;
    }
    const tenantParam = typeof d.params['tenant'] === 'string' ? d.params['tenant'] : undefined;
    if (tenantParam !== undefined) {
      const tenant = await directory.tenant(tenantParam);
      if (!tenant) throw notFound('tenant.unknown', 'We do not know this organization.', { tenant: tenantParam });
      return startSamlLogin(req, res, d, tenant);
    }
    const loginHint = typeof d.params['login_hint'] === 'string' ? d.params['login_hint'] : undefined;
    if (loginHint !== undefined) {
      const tenant = await directory.tenantForEmail(loginHint);
      if (!tenant) throw notFound('tenant.unknown_domain', 'We do not know an organization for this email address.', { loginHint });
      return startSamlLogin(req, res, d, tenant);
    }
    res.type('html').send(discoveryPage(d.uid, await clientName(d)));
  });

  router.post('/interaction/:uid/discover', form, async (req, res) => {
    const d = await details(req, res);
    const email = formField(req, 'email').trim();
    const tenant = await directory.tenantForEmail(email);
    if (!tenant) {
      logger.warn({ requestId: req.requestId, uid: d.uid, code: 'tenant.unknown_domain', status: 404 }, 'rejected: tenant.unknown_domain');
      const message = 'We do not know an organization for this email address. Check it, or ask your administrator.';
      res.status(404).type('html').send(discoveryPage(d.uid, await clientName(d), { message, reference: req.requestId }));
      return;
    }
    await startSamlLogin(req, res, d, tenant);
  });

  // The connection picker's choice, for tenants with several connections.
  router.post('/interaction/:uid/connection', form, async (req, res) => {
    const d = await details(req, res);
    const request = await handoff.findRequest('interaction', d.uid);
    const tenantId = formField(req, 'tenant');
    const tenant = request ? await directory.tenant(request.tenantId) : await directory.tenant(tenantId);
    if (!tenant) throw badRequest('tenant.unknown', 'We do not know this organization.', { tenant: tenantId });
    await startSamlLogin(req, res, d, tenant, formField(req, 'connection'));
  });

  router.get('/interaction/:uid/complete', async (req, res) => {
    // The interaction cookie binds this step to the browser that started the login.
    const d = await details(req, res);
    const resultId = typeof req.query['result'] === 'string' ? req.query['result'] : '';
    const result = resultId ? await handoff.takeResult(resultId) : undefined;
    if (!result) throw badRequest('login.result_unknown', 'This sign-in has expired. Please start again from the application.', { uid: d.uid });
    if (result.uid !== d.uid) throw badRequest('login.result_mismatch', 'This sign-in could not be completed. Please start again from the application.', { uid: d.uid, resultUid: result.uid });
    await finishLogin(res, d, result);
  });

  // "This is not me" on an IdP-initiated login's confirmation: the held login result is thrown
  // away (Back and Continue cannot use it any more), and the person gets the sign-in page.
  router.post('/interaction/:uid/not-me', form, async (req, res) => {
    const d = await details(req, res);
    const result = await handoff.takeResult(formField(req, 'result'));
    if (result) logger.warn({ requestId: req.requestId, uid: d.uid, code: 'login.not_me', tenantId: result.tenantId, userId: result.userId }, 'an IdP-initiated login was refused by the person in the browser');
    res.redirect(303, `/interaction/${encodeURIComponent(d.uid)}`);
  });

  router.post('/interaction/:uid/consent', form, async (req, res) => {
    const d = await details(req, res);
    if (d.prompt.name !== 'consent' || !d.session?.accountId) throw badRequest('interaction.unexpected', 'This step is not expected now.', { prompt: d.prompt.name });
    if (formField(req, 'decision') !== 'allow') {
      await provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'the user denied access' }, { mergeWithLastSubmission: false });
      return;
    }
    await grantConsent(req, res, d);
  });

  /** Record the consent the interaction asks for in the grant, and finish the interaction. */
  async function grantConsent(req: Request, res: Response, d: Details): Promise<void> {
    if (!d.session?.accountId) throw badRequest('interaction.unexpected', 'This step is not expected now.', { prompt: d.prompt.name });
    const grant = d.grantId ? await provider.Grant.find(d.grantId) : new provider.Grant({ accountId: d.session.accountId, clientId: String(d.params['client_id']) });
    if (!grant) throw badRequest('interaction.grant_missing', 'This sign-in has expired. Please start again from the application.');
    const missing = d.prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> };
    if (missing.missingOIDCScope?.length) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims?.length) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(' '));
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }

  return router;
}
