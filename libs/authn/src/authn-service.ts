import { createHash, timingSafeEqual } from 'node:crypto';
import express, { type NextFunction, type Request, type RequestHandler, type Response, type Router } from 'express';
import type { ResolvedConfig, ResolvedConnection, ResolvedTenant } from '@broker/config';
import { badRequest, BrokerError, notFound } from '@broker/http';
import type { Directory, LoginHandoff, UserRepository } from '@broker/identity';
import { CATEGORY_TITLES, certificateReport, explainSamlCode, SamlRejection, spUrls, type SamlDiagnostics, type SamlServiceProvider } from '@broker/saml';
import type { Logger } from '@broker/telemetry';
import { mapAssertion } from './identity-mapping.ts';

export interface AuthnServiceDeps {
  config: ResolvedConfig;
  directory: Directory;
  handoff: LoginHandoff;
  users: UserRepository;
  serviceProvider: SamlServiceProvider;
  /** Where rejected responses of each connection are kept for GET /saml/:connectionId/diagnostics. */
  diagnostics: SamlDiagnostics;
  logger: Logger;
  /** Largest SAMLResponse POST body accepted (default 256 KB). */
  maxBodyBytes?: number;
}

/** What a person sees for any rejected SAML response; the reason goes to the log only. */
const REJECTED = 'Your sign-in could not be completed. Please start again from the application.';

/**
 * authn-service: the SAML service provider's routes under /saml/:connectionId.
 *   GET  /metadata  SP metadata for the connection
 *   GET  /login     starts an SP-initiated login for a portal interaction (?interaction=uid)
 *   POST /acs       the Assertion Consumer Service (HTTP-POST binding)
 *   GET  /diagnostics  the connection's set-up state and recent rejections, for administrators
 *                      (Bearer admin.apiToken; 404 when no token is configured)
 */
export function createAuthnRouter(deps: AuthnServiceDeps): Router {
  const { directory, handoff, serviceProvider, logger } = deps;
  const router = express.Router();
  const parseForm = express.urlencoded({ extended: false, limit: deps.maxBodyBytes ?? 256 * 1024, parameterLimit: 10 });
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

  /** The form parser, with an oversized POST reported (and recorded) as what it is at the ACS. */
  const form: RequestHandler = (req, res, next) =>
    parseForm(req, res, (error?: unknown) => {
      if ((error as { type?: string } | undefined)?.type !== 'entity.too.large') return next(error);
      const limitBytes = deps.maxBodyBytes ?? 256 * 1024;
      const known = directory.connection(String(req.params['connectionId']));
      note(req, known ? [known.connection.id] : [], 'saml.response_too_large', { limitBytes }).then(
        () => next(new BrokerError({ code: 'saml.response_too_large', status: 413, publicMessage: REJECTED, detail: { limitBytes } })),
        next,
      );
    });

  const connectionFrom = (req: Request): { tenant: ResolvedTenant; connection: ResolvedConnection } => {
    const found = directory.connection(String(req.params['connectionId']));
    if (!found) throw notFound('saml.unknown_connection', 'This sign-in link is not valid.', { connectionId: req.params['connectionId'] });
    return found;
  };

  router.get('/saml/:connectionId/metadata', (req, res) => {
    const { connection } = connectionFrom(req);
    res.type('application/samlmetadata+xml').send(serviceProvider.metadata(connection));
  });

  router.get('/saml/:connectionId/login', async (req, res) => {
    const { connection } = connectionFrom(req);
    const uid = typeof req.query['interaction'] === 'string' ? req.query['interaction'] : '';
    const request = uid ? await handoff.findRequest(uid) : undefined;
    if (!request) throw badRequest('login.unknown_interaction', 'This sign-in has expired. Please start again from the application.', { uid });
    if (request.connectionId !== connection.id) {
      throw badRequest('login.connection_mismatch', 'This sign-in link is not valid.', { expected: request.connectionId, got: connection.id });
    }
    const requestId = serviceProvider.newRequestId();
    const relayState = await handoff.createRelayState({ uid, connectionId: connection.id, requestId });
    logger.info({ requestId: req.requestId, uid, connectionId: connection.id, authnRequestId: requestId }, 'sending AuthnRequest');
    await serviceProvider.sendToIdp(req, res, { connection, requestId, relayState });
  });

  router.post('/saml/:connectionId/acs', form, async (req: Request, res: Response) => {
    const { tenant, connection } = connectionFrom(req);
    const body = (req.body ?? {}) as Record<string, unknown>;
    const relayState = typeof body['RelayState'] === 'string' ? body['RelayState'] : '';
    if (!relayState) throw await refused(req, [connection.id], 'saml.relay_state_missing', { note: 'IdP-initiated SSO is not enabled for this connection' });
    // Peek, not take: a response that fails validation must not use up the legitimate login.
    const relay = await handoff.peekRelayState(relayState);
    if (!relay) throw await refused(req, [connection.id], 'saml.relay_state_unknown');
    if (relay.connectionId !== connection.id) {
      // Both connections' administrators see it: the login's (whose IdP posts to the wrong ACS) and this one's.
      const involved = directory.connection(relay.connectionId) ? [connection.id, relay.connectionId] : [connection.id];
      throw await refused(req, involved, 'saml.relay_state_mismatch', { expected: relay.connectionId, got: connection.id });
    }

    let assertion;
    try {
      assertion = await serviceProvider.validateResponse(req, res, connection, { expectedRequestId: relay.requestId });
    } catch (error) {
      if (error instanceof SamlRejection) throw await refused(req, [connection.id], error.code, { ...error.detail, connectionId: connection.id });
      throw error;
    }
    // Consume the RelayState atomically so two concurrent posts of one response cannot both log in
    // (the request ID is already used up; this keeps the RelayState single use on its own terms).
    if (!(await handoff.takeRelayState(relayState))) throw await refused(req, [connection.id], 'saml.relay_state_reused', { connectionId: connection.id });

    const identity = mapAssertion(tenant.id, connection, assertion);
    // Accepted, but the seed guides' "user created without email": tell the administrator.
    if (identity.email === undefined) await note(req, [connection.id], 'saml.email_missing');
    const { user, created } = await deps.users.recordLogin(identity, connection.defaultRole ?? tenant.defaultRole);
    const resultId = await handoff.saveResult({
      uid: relay.uid,
      userId: user.id,
      tenantId: tenant.id,
      connectionId: connection.id,
      authTime: Math.floor(Date.now() / 1000),
      amr: [],
    });
    logger.info({ requestId: req.requestId, uid: relay.uid, tenantId: tenant.id, connectionId: connection.id, userId: user.id, created }, 'SAML login accepted');
    res.redirect(303, `${deps.config.issuer}/interaction/${encodeURIComponent(relay.uid)}/complete?result=${encodeURIComponent(resultId)}`);
  });

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
    const found = directory.connection(String(req.params['connectionId']));
    if (!found) {
      res.status(404).json({ error: 'not_found', message: `No connection '${String(req.params['connectionId'])}'.` });
      return;
    }
    const { connection } = found;
    const idp = serviceProvider.idpSettings(connection);
    const sp = spUrls(deps.config.issuer, connection.id);
    const report = certificateReport(idp.certificates, { allowSha1: connection.security.allowSha1 });
    const recent = await deps.diagnostics.list(connection.id);
    res.json({
      connection: { id: connection.id, spEntityId: sp.entityId, acsUrl: sp.acsUrl, idpEntityId: idp.entityId },
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
