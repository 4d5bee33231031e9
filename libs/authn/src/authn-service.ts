import express, { type Request, type Response, type Router } from 'express';
import type { ResolvedConfig, ResolvedConnection, ResolvedTenant } from '@broker/config';
import { badRequest, BrokerError, notFound } from '@broker/http';
import type { Directory, LoginHandoff, UserRepository } from '@broker/identity';
import { SamlRejection, type SamlServiceProvider } from '@broker/saml';
import type { Logger } from '@broker/telemetry';
import { mapAssertion } from './identity-mapping.ts';

export interface AuthnServiceDeps {
  config: ResolvedConfig;
  directory: Directory;
  handoff: LoginHandoff;
  users: UserRepository;
  serviceProvider: SamlServiceProvider;
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
 */
export function createAuthnRouter(deps: AuthnServiceDeps): Router {
  const { directory, handoff, serviceProvider, logger } = deps;
  const router = express.Router();
  const form = express.urlencoded({ extended: false, limit: deps.maxBodyBytes ?? 256 * 1024, parameterLimit: 10 });

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
    if (!relayState) throw rejected('saml.relay_state_missing', { note: 'IdP-initiated SSO is not enabled for this connection' });
    // Peek, not take: a response that fails validation must not use up the legitimate login.
    const relay = await handoff.peekRelayState(relayState);
    if (!relay) throw rejected('saml.relay_state_unknown');
    if (relay.connectionId !== connection.id) throw rejected('saml.relay_state_mismatch', { expected: relay.connectionId, got: connection.id });

    let assertion;
    try {
      assertion = await serviceProvider.validateResponse(req, res, connection, { expectedRequestId: relay.requestId });
    } catch (error) {
      if (error instanceof SamlRejection) throw rejected(error.code, { ...error.detail, connectionId: connection.id });
      throw error;
    }
    // Consume the RelayState atomically so two concurrent posts of one response cannot both log in
    // (the request ID is already used up; this keeps the RelayState single use on its own terms).
    if (!(await handoff.takeRelayState(relayState))) throw rejected('saml.relay_state_reused', { connectionId: connection.id });

    const identity = mapAssertion(tenant.id, connection, assertion);
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

  return router;
}

function rejected(code: string, detail: Record<string, unknown> = {}): BrokerError {
  return new BrokerError({ code, status: 400, publicMessage: REJECTED, detail });
}
