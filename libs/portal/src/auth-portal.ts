import express, { type Request, type RequestHandler, type Response, type Router } from 'express';
import type { ResolvedTenant } from '@broker/config';
import { BrokerError, badRequest, notFound } from '@broker/http';
import type { ClientRegistry, Directory, LoginHandoff } from '@broker/identity';
import { OIDC_ROUTES, type Provider } from '@broker/oidc';
import type { Logger } from '@broker/telemetry';
import { consentPage, discoveryPage } from './pages.ts';

export interface AuthPortalDeps {
  provider: Provider;
  directory: Directory;
  clients: ClientRegistry;
  handoff: LoginHandoff;
  logger: Logger;
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

  const details = async (req: Request, res: Response): Promise<Details> => {
    try {
      return await provider.interactionDetails(req, res);
    } catch (error) {
      throw new BrokerError({
        code: 'interaction.not_found',
        status: 400,
        publicMessage: 'This sign-in has expired or was started in another browser. Please start again from the application.',
        detail: { reason: (error as Error).message },
      });
    }
  };

  const clientName = async (d: Details): Promise<string> => {
    const client = await clients.find(String(d.params['client_id']));
    return client?.displayName ?? client?.clientId ?? 'the application';
  };

  /** Hand the login to authn-service for the tenant's IdP connection. */
  const startSamlLogin = async (req: Request, res: Response, d: Details, tenant: ResolvedTenant): Promise<void> => {
    const clientId = String(d.params['client_id']);
    const client = await clients.find(clientId);
    if (!client?.allowedTenants.includes(tenant.id)) {
      throw new BrokerError({ code: 'tenant.not_allowed', status: 403, publicMessage: 'Your organization cannot sign in to this application.', detail: { clientId, tenantId: tenant.id } });
    }
    const hint = typeof d.params['idp_hint'] === 'string' ? d.params['idp_hint'] : undefined;
    const connection = (hint && tenant.connections.find((c) => c.id === hint)) || tenant.connections[0];
    if (!connection) throw notFound('tenant.no_connection', 'Your organization has no sign-in method set up.', { tenantId: tenant.id });
    await handoff.saveRequest({ uid: d.uid, tenantId: tenant.id, connectionId: connection.id, clientId });
    logger.info({ requestId: req.requestId, uid: d.uid, tenantId: tenant.id, connectionId: connection.id, clientId }, 'login handed to authn-service');
    res.redirect(303, `/saml/${encodeURIComponent(connection.id)}/login?interaction=${encodeURIComponent(d.uid)}`);
  };

  router.use((req, res, next) => {
    if (isPortalOidcPath(req.path)) {
      callback(req, res, next);
      return;
    }
    next();
  });

  router.get('/interaction/:uid', async (req, res) => {
    const d = await details(req, res);
    if (d.prompt.name === 'consent') {
      // First-party clients see no consent screen, even when they ask for one (prompt=consent,
      // which OIDC requires for offline_access).
      if ((await clients.find(String(d.params['client_id'])))?.firstParty) return grantConsent(req, res, d);
      const scopes = (typeof d.params['scope'] === 'string' ? d.params['scope'] : 'openid').split(' ');
      res.type('html').send(consentPage(d.uid, await clientName(d), scopes));
      return;
    }
    const tenantParam = typeof d.params['tenant'] === 'string' ? d.params['tenant'] : undefined;
    if (tenantParam !== undefined) {
      const tenant = directory.tenant(tenantParam);
      if (!tenant) throw notFound('tenant.unknown', 'We do not know this organization.', { tenant: tenantParam });
      return startSamlLogin(req, res, d, tenant);
    }
    const loginHint = typeof d.params['login_hint'] === 'string' ? d.params['login_hint'] : undefined;
    if (loginHint !== undefined) {
      const tenant = directory.tenantForEmail(loginHint);
      if (!tenant) throw notFound('tenant.unknown_domain', 'We do not know an organization for this email address.', { loginHint });
      return startSamlLogin(req, res, d, tenant);
    }
    res.type('html').send(discoveryPage(d.uid, await clientName(d)));
  });

  router.post('/interaction/:uid/discover', form, async (req, res) => {
    const d = await details(req, res);
    const email = formField(req, 'email').trim();
    const tenant = directory.tenantForEmail(email);
    if (!tenant) {
      logger.warn({ requestId: req.requestId, uid: d.uid, code: 'tenant.unknown_domain', status: 404 }, 'rejected: tenant.unknown_domain');
      const message = 'We do not know an organization for this email address. Check it, or ask your administrator.';
      res.status(404).type('html').send(discoveryPage(d.uid, await clientName(d), { message, reference: req.requestId }));
      return;
    }
    await startSamlLogin(req, res, d, tenant);
  });

  router.get('/interaction/:uid/complete', async (req, res) => {
    // The interaction cookie binds this step to the browser that started the login.
    const d = await details(req, res);
    const resultId = typeof req.query['result'] === 'string' ? req.query['result'] : '';
    const result = resultId ? await handoff.takeResult(resultId) : undefined;
    if (!result) throw badRequest('login.result_unknown', 'This sign-in has expired. Please start again from the application.', { uid: d.uid });
    if (result.uid !== d.uid) throw badRequest('login.result_mismatch', 'This sign-in could not be completed. Please start again from the application.', { uid: d.uid, resultUid: result.uid });
    await provider.interactionFinished(
      req,
      res,
      { login: { accountId: result.userId, ts: result.authTime, ...(result.amr.length ? { amr: result.amr } : {}) } },
      { mergeWithLastSubmission: false },
    );
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
