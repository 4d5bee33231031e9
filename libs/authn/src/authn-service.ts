import { createHash, timingSafeEqual } from 'node:crypto';
import express, { type NextFunction, type Request, type RequestHandler, type Response, type Router } from 'express';
import type { ResolvedConfig, ResolvedConnection, ResolvedTenant } from '@broker/config';
import { badRequest, BrokerError, notFound } from '@broker/http';
import { isEmailVerified, isOpaqueId, PENDING_LOGIN_COOKIE, PENDING_LOGIN_TTL_SECONDS, type ClientRegistry, type Directory, type LoginHandoff, type LoginResult, type UserRepository } from '@broker/identity';
import {
  CATEGORY_TITLES,
  certificateReport,
  explainSamlCode,
  SamlRejection,
  spUrls,
  type SamlDiagnostics,
  type SamlServiceProvider,
  type ValidatedAssertion,
  type ValidatedLogoutRequest,
  type ValidateOptions,
} from '@broker/saml';
import type { Logger } from '@broker/telemetry';
import { authenticationContext, mapAssertion, MAX_USER_ID_LENGTH } from './identity-mapping.ts';

/** SAML Core 8.3.8: a NameID valid for one sign-in only. */
const NAMEID_TRANSIENT = 'urn:oasis:names:tc:SAML:2.0:nameid-format:transient';

export interface AuthnServiceDeps {
  config: ResolvedConfig;
  directory: Directory;
  clients: ClientRegistry;
  handoff: LoginHandoff;
  users: UserRepository;
  serviceProvider: SamlServiceProvider;
  /** Where rejected responses of each connection are kept for GET /saml/:connectionId/diagnostics. */
  diagnostics: SamlDiagnostics;
  logger: Logger;
  /**
   * End every broker (OIDC) session of a user, for SAML Single Logout; resolves to how many
   * ended. The broker wires it to @broker/oidc's endSessionsOf.
   */
  endSessions: (userId: string) => Promise<number>;
}

/** What a person sees for any rejected SAML response; the reason goes to the log only. */
const REJECTED = 'Your sign-in could not be completed. Please start again from the application.';

/**
 * authn-service: the SAML service provider's routes under /saml/:connectionId.
 *   GET  /metadata  SP metadata for the connection
 *   GET  /login     starts an SP-initiated login for a portal interaction (?interaction=uid) or
 *                   a login link (?link=id)
 *   POST /acs       the Assertion Consumer Service (HTTP-POST binding); IdP-initiated responses
 *                   too, where the connection enables them
 *   GET|POST /slo   Single Logout for IdP-initiated LogoutRequests (HTTP-Redirect or HTTP-POST
 *                   binding); 404 unless the IdP has an SLO URL (idp.sloUrl or its metadata)
 *   GET  /diagnostics  the connection's set-up state and recent rejections, for administrators
 *                      (Bearer admin.apiToken; 404 when no token is configured)
 */
/** Where the form parser leaves the connection it read (res.locals), for connectionFrom. */
const CONNECTION_LOCAL = 'brokerConnection';

/** The default body limit at the ACS and SLO endpoints (the default maxResponseBytes is 256 KiB of base64 as well). */
const DEFAULT_BODY_LIMIT = 256 * 1024;

export function createAuthnRouter(deps: AuthnServiceDeps): Router {
  const { directory, handoff, serviceProvider, logger } = deps;
  const router = express.Router();
  // One parser per body limit: a connection may accept larger responses than the default.
  const parsers = new Map<number, RequestHandler>();
  const parserFor = (limit: number): RequestHandler => {
    let parser = parsers.get(limit);
    if (!parser) {
      parser = express.urlencoded({ extended: false, limit, parameterLimit: 10 });
      parsers.set(limit, parser);
    }
    return parser;
  };
  /**
   * The largest POST body at a connection's ACS and SLO endpoints: its maxResponseBytes with room
   * for the form encoding, and never under 256 KiB.
   */
  const bodyLimitOf = (connection: ResolvedConnection | undefined): number =>
    Math.max(DEFAULT_BODY_LIMIT, connection ? Math.ceil(connection.security.maxResponseBytes * 1.1) + 8 * 1024 : 0);
  /**
   * Keep a rejection (or a warning) in the connection's diagnostics. Failing to do so must not
   * change what the person gets, so a store error is only logged.
   */
  const note = async (req: Request, connectionIds: readonly string[], code: string, detail: Record<string, unknown> = {}): Promise<void> => {
    for (const connectionId of connectionIds) {
      try {
        await deps.diagnostics.record(connectionId, { code, detail });
      } catch (error) {
        logger.error({ requestId: req.requestId, connectionId, code, err: error instanceof Error ? error.message : String(error) }, 'could not record SAML diagnostics');
      }
    }
  };
  /** Record a refused response for its connection(s), then the error to throw. */
  const refused = async (req: Request, connectionIds: readonly string[], code: string, detail: Record<string, unknown> = {}): Promise<BrokerError> => {
    await note(req, connectionIds, code, detail);
    return rejected(code, detail);
  };

  /**
   * The form parser, with the body limit of the connection the path names, and an oversized POST
   * reported (and recorded) as what it is at the ACS. The connection it read is kept for the
   * handler (connectionFrom), which would otherwise read it again.
   */
  const form: RequestHandler = (req, res, next) => {
    directory.connection(String(req.params['connectionId'])).then((known) => {
      res.locals[CONNECTION_LOCAL] = known ?? null;
      const limitBytes = bodyLimitOf(known?.connection);
      parserFor(limitBytes)(req, res, (error?: unknown) => {
        if ((error as { type?: string } | undefined)?.type !== 'entity.too.large') return next(error);
        note(req, known ? [known.connection.id] : [], 'saml.response_too_large', { limitBytes }).then(
          () => next(new BrokerError({ code: 'saml.response_too_large', status: 413, publicMessage: REJECTED, detail: { limitBytes } })),
          next,
        );
      });
    }, next);
  };

  const connectionFrom = async (req: Request, res: Response): Promise<{ tenant: ResolvedTenant; connection: ResolvedConnection }> => {
    const read = res.locals[CONNECTION_LOCAL] as Awaited<ReturnType<Directory['connection']>> | null | undefined;
    const found = read === undefined ? await directory.connection(String(req.params['connectionId'])) : (read ?? undefined);
    if (!found) throw notFound('saml.unknown_connection', 'This sign-in link is not valid.', { connectionId: req.params['connectionId'] });
    return found;
  };

  router.get('/saml/:connectionId/metadata', async (req, res) => {
    const { connection } = await connectionFrom(req, res);
    res.type('application/samlmetadata+xml').send(serviceProvider.metadata(connection));
  });

  router.get('/saml/:connectionId/login', async (req, res) => {
    const { connection } = await connectionFrom(req, res);
    // An interaction of the portal (an app's authorization request) or a login link.
    const kind = typeof req.query['interaction'] === 'string' ? 'interaction' : 'link';
    const raw = req.query[kind];
    const id = typeof raw === 'string' ? raw : '';
    const request = id ? await handoff.findRequest(kind, id) : undefined;
    if (!request) throw badRequest('login.unknown_interaction', 'This sign-in has expired. Please start again from the application.', { kind, id });
    if (request.connectionId !== connection.id) {
      throw badRequest('login.connection_mismatch', 'This sign-in link is not valid.', { expected: request.connectionId, got: connection.id });
    }
    const requestId = serviceProvider.newRequestId();
    // A fresh authentication: the app asked for one (prompt=login, max_age) or the connection
    // always does. The RelayState records what was asked, for the ACS to hold the IdP to it.
    const forceAuthn = request.forceAuthn === true || connection.authnRequest.forceAuthn;
    const relayState = await handoff.createRelayState({ ...request, forceAuthn, requestId, requestedAt: Date.now() });
    logger.info({ requestId: req.requestId, kind, id, connectionId: connection.id, authnRequestId: requestId, forceAuthn }, 'sending AuthnRequest');
    await serviceProvider.sendToIdp(req, res, { connection, requestId, relayState, forceAuthn });
  });

  router.post('/saml/:connectionId/acs', form, async (req: Request, res: Response) => {
    const { tenant, connection } = await connectionFrom(req, res);
    const body = (req.body ?? {}) as Record<string, unknown>;
    const relayState = typeof body['RelayState'] === 'string' ? body['RelayState'] : '';
    // Peek, not take: a response that fails validation must not use up the legitimate login.
    const relay = isOpaqueId(relayState) ? await handoff.peekRelayState(relayState) : undefined;
    if (!relay) {
      // No RelayState of ours: IdP-initiated SSO, when the connection allows it.
      if (connection.idpInitiated.enabled) return idpInitiated(req, res, tenant, connection, relayState);
      if (!relayState) throw await refused(req, [connection.id], 'saml.unsolicited', { note: 'IdP-initiated SSO is not enabled for this connection' });
      throw await refused(req, [connection.id], 'saml.relay_state_unknown');
    }
    if (relay.connectionId !== connection.id) {
      // Both connections' administrators see it: the login's (whose IdP posts to the wrong ACS) and this one's.
      const involved = (await directory.connection(relay.connectionId)) ? [connection.id, relay.connectionId] : [connection.id];
      throw await refused(req, involved, 'saml.relay_state_mismatch', { expected: relay.connectionId, got: connection.id });
    }
    // A request that asked for a fresh authentication takes only an authentication made after it.
    const assertion = await validate(req, connection, { expectedRequestId: relay.requestId, authenticatedSinceMs: relay.forceAuthn === true ? relay.requestedAt : undefined });
    // Consume the RelayState atomically so two concurrent posts of one response cannot both log in
    // (the request ID is already used up; this keeps the RelayState single use on its own terms).
    if (!(await handoff.takeRelayState(relayState))) throw await refused(req, [connection.id], 'saml.relay_state_reused', { connectionId: connection.id });
    const result = await signIn(req, tenant, connection, assertion, relay.clientId, relay.account);
    if (relay.kind === 'interaction') {
      const resultId = await handoff.saveResult({ ...result, uid: relay.id });
      res.redirect(303, `${deps.config.issuer}/interaction/${encodeURIComponent(relay.id)}/complete?result=${encodeURIComponent(resultId)}`);
      return;
    }
    // A login link: the pending login carries the binding of the browser that opened the link.
    await sendToApp(res, { ...result, browser: relay.browser });
  });

  /** Every check of libs/saml (docs/saml-security.md); a rejection is recorded for the connection. */
  const validate = async (req: Request, connection: ResolvedConnection, options: ValidateOptions): Promise<ValidatedAssertion> => {
    try {
      return await serviceProvider.validateResponse(req, connection, options);
    } catch (error) {
      if (error instanceof SamlRejection) throw await refused(req, [connection.id], error.code, { ...error.detail, connectionId: connection.id });
      throw error;
    }
  };

  /** Match or create the user (Create Users, user ID type and location); the login result. */
  const signIn = async (req: Request, tenant: ResolvedTenant, connection: ResolvedConnection, assertion: ValidatedAssertion, clientId: string, account?: string): Promise<LoginResult> => {
    // A transient NameID is a new random value at every sign-in: as the user ID it would make a
    // new user each time (and Single Logout could never find them).
    if (connection.userIdLocation === 'nameId' && assertion.nameIdFormat === NAMEID_TRANSIENT) throw await refused(req, [connection.id], 'saml.nameid_transient', { nameIdFormat: assertion.nameIdFormat });
    const identity = mapAssertion(tenant.id, connection, assertion);
    if (!identity) throw await refused(req, [connection.id], 'saml.user_id_missing', { expectedAttribute: connection.userIdAttribute });
    if (identity.userId.length > MAX_USER_ID_LENGTH) throw await refused(req, [connection.id], 'saml.user_id_too_long', { maxLength: MAX_USER_ID_LENGTH });
    // Accepted, but the seed guides' "user created without email": tell the administrator.
    if (identity.email === undefined) await note(req, [connection.id], 'saml.email_missing');
    const outcome = await deps.users.recordLogin(identity, { createUsers: connection.createUsers, defaultRole: connection.defaultRole ?? tenant.defaultRole, account });
    if ('refused' in outcome) {
      await note(req, [connection.id], 'saml.user_not_provisioned', { userIdType: identity.userIdType });
      throw new BrokerError({ code: 'saml.user_not_provisioned', status: 403, publicMessage: 'Your administrator has not given you access to this application.', detail: { connectionId: connection.id } });
    }
    const { user, created } = outcome;
    logger.info({ requestId: req.requestId, tenantId: tenant.id, connectionId: connection.id, userId: user.id, created }, 'SAML login accepted');
    // auth_time is when the IdP authenticated the person (AuthnInstant), not when the broker heard
    // of it: an app asking max_age must see an IdP session's real age. Never in the future.
    const authTime = Math.floor(Math.min(Date.now(), assertion.authnInstantMs ?? Date.now()) / 1000);
    return { userId: user.id, tenantId: tenant.id, connectionId: connection.id, clientId, authTime, who: (isEmailVerified(user, tenant) === true ? user.email : undefined) ?? user.username ?? user.userId, ...authenticationContext(assertion.authnContextClassRef) };
  };

  /**
   * Unsolicited response (IdP-initiated SSO): replay-checked like any other; the person then goes
   * to the app's login-initiation URI holding a pending broker login, and the app's own PKCE
   * request finishes without another trip to the IdP. No code goes to an app that did not ask.
   */
  const idpInitiated = async (req: Request, res: Response, tenant: ResolvedTenant, connection: ResolvedConnection, relayState: string): Promise<void> => {
    const candidate = relayState || connection.idpInitiated.relayState;
    const client = candidate ? await deps.clients.find(candidate) : undefined;
    if (!client?.initiateLoginUri || !client.allowedTenants.includes(tenant.id)) {
      throw await refused(req, [connection.id], 'saml.idp_initiated_no_target', { relayState: candidate });
    }
    const assertion = await validate(req, connection, { expectedRequestId: undefined, allowUnsolicited: true });
    await sendToApp(res, await signIn(req, tenant, connection, assertion, client.clientId));
  };

  /** Hold the login for this browser and send it to the app's OIDC login-initiation URI. */
  const sendToApp = async (res: Response, result: LoginResult): Promise<void> => {
    const client = await deps.clients.find(result.clientId);
    if (!client?.initiateLoginUri) throw badRequest('login.no_initiate_login_uri', 'This application cannot be opened from here.', { clientId: result.clientId });
    const pendingId = await handoff.savePendingLogin(result);
    res.cookie(PENDING_LOGIN_COOKIE, pendingId, { httpOnly: true, sameSite: 'lax', secure: deps.config.issuer.startsWith('https:'), path: '/', maxAge: PENDING_LOGIN_TTL_SECONDS * 1000 });
    const target = new URL(client.initiateLoginUri);
    target.searchParams.set('iss', deps.config.issuer);
    const user = await deps.users.findById(result.userId);
    if (user?.email) target.searchParams.set('login_hint', user.email);
    res.redirect(303, target.href);
  };

  /**
   * IdP-initiated Single Logout: a signed LogoutRequest from the connection's IdP ends the
   * named user's broker sessions, and the browser goes back to the IdP with a LogoutResponse.
   * A refused request changes nothing and gets the plain 4xx page (recorded in diagnostics).
   */
  const singleLogout = async (req: Request, res: Response): Promise<void> => {
    const { tenant, connection } = await connectionFrom(req, res);
    if (!serviceProvider.idpSettings(connection).sloUrl) {
      await note(req, [connection.id], 'saml.slo_not_configured', { connectionId: connection.id });
      throw notFound('saml.slo_not_configured', 'This page does not exist.', { connectionId: connection.id });
    }
    let request: ValidatedLogoutRequest;
    try {
      request = await serviceProvider.validateLogoutRequest(req, connection);
    } catch (error) {
      if (error instanceof SamlRejection) throw await refused(req, [connection.id], error.code, { ...error.detail, connectionId: connection.id });
      throw error;
    }
    // The user is found the way a login finds them: tenant, user ID type and the NameID. When
    // the connection takes the user ID from an attribute, a LogoutRequest (which carries only
    // the NameID) cannot name the user reliably: nothing is ended, and the IdP is still told
    // Success, since SAML Single Logout is best effort and the person has no session to end that
    // we can find (a failure status would only leave the IdP's logout hanging). Sessions then end
    // at their own expiry.
    let endedSessions = 0;
    let userId: string | undefined;
    if (connection.userIdLocation === 'nameId') {
      const value = request.nameId.trim();
      const user = value ? await deps.users.findByIdentifier(tenant.id, connection.userIdType, value) : undefined;
      userId = user?.id;
      if (user) endedSessions = await deps.endSessions(user.id);
    }
    logger.info(
      { requestId: req.requestId, tenantId: tenant.id, connectionId: connection.id, userId, endedSessions, logoutRequestId: request.requestId, userIdLocation: connection.userIdLocation },
      'SAML single logout accepted',
    );
    const target = await serviceProvider.logoutResponseUrl(connection, request.requestId, request.relayState, true);
    res.setHeader('Cache-Control', 'no-store');
    res.redirect(req.method === 'POST' ? 303 : 302, target);
  };
  router.get('/saml/:connectionId/slo', singleLogout);
  router.post('/saml/:connectionId/slo', form, singleLogout);

  router.get('/saml/:connectionId/diagnostics', async (req: Request, res: Response, next: NextFunction) => {
    const token = deps.config.admin.apiToken;
    // No token configured: the administration API does not exist (the app's ordinary 404).
    if (!token) return next();
    res.setHeader('Cache-Control', 'no-store');
    const presented = bearerToken(req.get('authorization'));
    if (presented === undefined || !sameSecret(presented, token)) {
      logger.warn({ requestId: req.requestId, code: 'admin.unauthorized', path: req.path, tokenPresented: presented !== undefined }, 'rejected: admin.unauthorized');
      res
        .status(401)
        .setHeader('WWW-Authenticate', presented === undefined ? 'Bearer realm="broker-admin"' : 'Bearer realm="broker-admin", error="invalid_token"')
        .json({ error: 'unauthorized', message: 'This endpoint needs the admin API token: Authorization: Bearer <admin.apiToken>.' });
      return;
    }
    const found = await directory.connection(String(req.params['connectionId']));
    if (!found) {
      res.status(404).json({ error: 'not_found', message: `No connection '${String(req.params['connectionId'])}'.` });
      return;
    }
    const { tenant, connection } = found;
    const idp = serviceProvider.idpSettings(connection);
    const external = tenant.externalIds.organization ? `orgExternalId=${encodeURIComponent(tenant.externalIds.organization)}` : tenant.externalIds.customer ? `customerId=${encodeURIComponent(tenant.externalIds.customer)}` : undefined;
    const sp = spUrls(deps.config.issuer, connection);
    const report = certificateReport(idp.certificates, { allowSha1: connection.security.allowSha1 });
    const recent = await deps.diagnostics.list(connection.id);
    res.json({
      connection: {
        id: connection.id,
        // What the IdP administrator enters (the seeds' SSO pages): SP entity ID, ACS URL, the
        // SP-initiated login URL apps and portals link to, and the IdP side as the broker sees it.
        spEntityId: sp.entityId,
        acsUrl: sp.acsUrl,
        spMetadataUrl: sp.metadataUrl,
        // Login links need the tenant's external id (add client_id, or set idpInitiated.relayState).
        loginUrl: external && `${deps.config.issuer}/login/sso?${external}&idp_hint=${encodeURIComponent(connection.id)}`,
        idpEntityId: idp.entityId,
        idpSsoUrl: idp.ssoUrl,
        idpSloUrl: idp.sloUrl,
        idpInitiated: connection.idpInitiated.enabled,
      },
      certificates: report.certificates,
      warnings: report.warnings,
      recentRejections: recent.map((entry) => {
        const explanation = explainSamlCode(entry.code);
        return { at: entry.at, code: entry.code, category: CATEGORY_TITLES[explanation.category], problem: explanation.problem, fix: explanation.fix, detail: entry.detail };
      }),
    });
  });

  return router;
}

/** The token of an `Authorization: Bearer <token>` header, or undefined. */
function bearerToken(header: string | undefined): string | undefined {
  const match = /^Bearer +([^\s]+) *$/i.exec(header ?? '');
  return match?.[1];
}

/** Compare secrets in constant time, whatever their lengths (both are hashed to 32 bytes first). */
function sameSecret(presented: string, expected: string): boolean {
  const digest = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();
  return timingSafeEqual(digest(presented), digest(expected));
}

function rejected(code: string, detail: Record<string, unknown> = {}): BrokerError {
  return new BrokerError({ code, status: 400, publicMessage: REJECTED, detail });
}
