import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import express from 'express';
import type { Express, NextFunction, Request, Response } from 'express';
import type { Logger } from '@broker/telemetry';
import type { DevIdpConfig, DevIdpUser } from './config.ts';
import { autoPostPage, errorPage, loginPage } from './html.ts';
import { createPendingRequests } from './pending-requests.ts';
import { createSamlIdp } from './saml.ts';

/** Everything `createDevIdp` needs; the config is already loaded (PEM texts, not paths). */
export interface DevIdpDeps {
  config: DevIdpConfig;
  logger: Logger;
}

/** How long a user has to sign in after the SP sent them here. */
const PENDING_TTL_MS = 10 * 60 * 1000;

/**
 * A small SAML 2.0 IdP standing in for an outside system such as Okta: metadata, SSO over the
 * HTTP-Redirect and HTTP-POST bindings, IdP-initiated SSO (`GET /idp-initiated?sp=<entity
 * id>&RelayState=`), a password form, and a signed Response delivered by HTTP-POST, with each
 * SP's attribute profile. It keeps no session, so every login shows the form.
 */
export function createDevIdp({ config, logger }: DevIdpDeps): Express {
  const saml = createSamlIdp(config);
  const pending = createPendingRequests(PENDING_TTL_MS);
  const serviceProviders = new Map(config.serviceProviders.map((sp) => [sp.entityId, sp]));
  const log = logger.child({ component: 'dev-idp' });

  const app = express();
  app.disable('x-powered-by');
  app.use(express.urlencoded({ extended: false }));

  app.get('/healthz', (_req, res) => {
    res.type('text/plain').send('ok');
  });

  app.get('/metadata', (_req, res) => {
    res.type('application/samlmetadata+xml').send(saml.metadataXml);
  });

  const sso = (binding: 'redirect' | 'post') => async (req: Request, res: Response) => {
    const source: unknown = binding === 'redirect' ? req.query : req.body;
    const samlRequest = stringField(source, 'SAMLRequest');
    const relayState = stringField(source, 'RelayState') || undefined;
    if (!samlRequest) return sendError(res, 400, 'Bad request', 'The SAMLRequest parameter is missing.');

    let parsed;
    try {
      parsed = await saml.parseAuthnRequest(binding, { SAMLRequest: samlRequest });
    } catch (error) {
      log.warn({ err: error, binding }, 'unreadable AuthnRequest');
      return sendError(res, 400, 'Bad request', 'The SAML AuthnRequest could not be read.');
    }
    const sp = serviceProviders.get(parsed.issuer);
    if (!sp) {
      log.warn({ issuer: parsed.issuer }, 'AuthnRequest from an unknown service provider');
      return sendError(res, 400, 'Unknown service provider', `"${parsed.issuer}" is not configured in this IdP.`);
    }
    const acsUrl = parsed.acsUrl ?? sp.acsUrls[0];
    if (!acsUrl || !sp.acsUrls.includes(acsUrl)) {
      log.warn({ sp: sp.entityId, acsUrl }, 'AuthnRequest with an ACS URL not configured for the SP');
      return sendError(res, 400, 'Bad request', `The AssertionConsumerServiceURL is not allowed for ${sp.entityId}.`);
    }
    const pendingId = pending.add({ requestId: parsed.id, spEntityId: sp.entityId, acsUrl, relayState });
    log.info({ sp: sp.entityId, requestId: parsed.id, binding }, 'AuthnRequest accepted');
    sendHtml(res, 200, (nonce) => loginPage({ pendingId, spEntityId: sp.entityId, nonce }));
  };
  app.get('/sso', sso('redirect'));
  app.post('/sso', sso('post'));

  // IdP-initiated SSO, as an IdP's app launcher starts it: no AuthnRequest, so the Response
  // answers none (no InResponseTo) and goes to the SP's first ACS URL, with the RelayState given.
  app.get('/idp-initiated', (req, res) => {
    const entityId = stringField(req.query, 'sp') ?? '';
    const relayState = stringField(req.query, 'RelayState') || undefined;
    const sp = serviceProviders.get(entityId);
    if (!sp) {
      log.warn({ sp: entityId }, 'IdP-initiated login for an unknown service provider');
      return sendError(res, 400, 'Unknown service provider', entityId ? `"${entityId}" is not configured in this IdP.` : 'The sp parameter (the SP entity ID) is missing.');
    }
    const acsUrl = sp.acsUrls[0] ?? '';
    const pendingId = pending.add({ spEntityId: sp.entityId, acsUrl, relayState });
    log.info({ sp: sp.entityId }, 'IdP-initiated login started');
    sendHtml(res, 200, (nonce) => loginPage({ pendingId, spEntityId: sp.entityId, nonce }));
  });

  app.post('/login', async (req, res) => {
    const body: unknown = req.body;
    const pendingId = stringField(body, 'pendingId') ?? '';
    const username = stringField(body, 'username') ?? '';
    const request = pending.peek(pendingId);
    if (!request) {
      return sendError(res, 400, 'Login expired', 'This login is unknown, expired or already used. Start again from the application.');
    }
    const user = authenticate(config.users, username, stringField(body, 'password') ?? '');
    if (!user) {
      log.info({ username, sp: request.spEntityId }, 'wrong username or password');
      const error = 'Wrong username or password.';
      return sendHtml(res, 401, (nonce) => loginPage({ pendingId, spEntityId: request.spEntityId, nonce, error, username }));
    }
    // Consume only now, so a mistyped password can be retried with the same form.
    if (!pending.take(pendingId)) {
      return sendError(res, 400, 'Login expired', 'This login has already been used.');
    }
    const attributeProfile = serviceProviders.get(request.spEntityId)?.attributeProfile;
    const samlResponse = await saml.createLoginResponse({ user, ...request, attributeProfile });
    log.info({ username, sp: request.spEntityId, requestId: request.requestId, idpInitiated: request.requestId === undefined }, 'login succeeded');
    sendHtml(res, 200, (nonce) =>
      autoPostPage({ acsUrl: request.acsUrl, samlResponse, relayState: request.relayState, nonce }),
    );
  });

  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    log.error({ err: error }, 'request failed');
    sendError(res, 500, 'Error', 'The dev IdP failed to handle this request.');
  });

  return app;
}

function stringField(source: unknown, name: string): string | undefined {
  if (typeof source !== 'object' || source === null) return undefined;
  const value: unknown = (source as Record<string, unknown>)[name];
  return typeof value === 'string' ? value : undefined;
}

/** Compares fixed-length digests so timing reveals neither the password nor its length. */
function sameSecret(a: string, b: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(digest(a), digest(b));
}

function authenticate(users: DevIdpUser[], username: string, password: string): DevIdpUser | undefined {
  const user = users.find((u) => u.username === username);
  // Compare even for unknown users, so both failures cost the same.
  const ok = sameSecret(password, user?.password ?? randomBytes(16).toString('hex'));
  return ok ? user : undefined;
}

/**
 * Every page is dynamic and the only script is the auto-POST; a per-response nonce lets that one
 * inline script (and the inline style) run and nothing else.
 */
function sendHtml(res: Response, status: number, render: (nonce: string) => string): void {
  const nonce = randomBytes(16).toString('base64');
  res
    .status(status)
    .set({
      'Content-Security-Policy': `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; base-uri 'none'; frame-ancestors 'none'`,
      'Cache-Control': 'no-store',
      'Referrer-Policy': 'no-referrer',
    })
    .type('html')
    .send(render(nonce));
}

function sendError(res: Response, status: number, title: string, message: string): void {
  sendHtml(res, status, (nonce) => errorPage(title, message, nonce));
}
