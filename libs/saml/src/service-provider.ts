import { createHash, randomBytes } from 'node:crypto';
import type { Request, Response } from 'express';
import { Passport } from 'passport';
import {
  MultiSamlStrategy,
  SAML,
  ValidateInResponseTo,
  generateServiceProviderMetadata,
  type CacheProvider,
  type PassportSamlConfig,
  type Profile,
  type VerifyWithoutRequest,
} from '@node-saml/passport-saml';
import type { ResolvedConnection } from '@broker/config';
import { keys, type Store } from '@broker/store';
import { checkAssertion, readAssertion, type AssertionContents } from './assertion-checks.ts';
import { resolveIdpSettings, spUrls, type IdpSettings } from './connection-settings.ts';
import { postBindingPage } from './post-binding.ts';
import { responsePolicy, type ResponsePolicy } from './policy.ts';
import { decryptAssertion } from './decrypt.ts';
import { checkDecryptedSignatures, checkIdentityComments, preflight, type Envelope } from './preflight.ts';
import { SamlRejection, toSamlRejection } from './rejection.ts';
import { trustedKeys, verifyEnvelopedSignature, type TrustedKey } from './signature.ts';
import { checkLogoutRequest, checkRedirectSignaturePresent, decodePostRequest, inflateRedirectRequest, parseRedirectQuery, type LogoutPolicy } from './logout.ts';

export interface ServiceProviderDeps {
  /** The broker's public origin; SP entity IDs and ACS URLs live under it. */
  issuer: string;
  store: Store;
  /** How long an AuthnRequest may wait for its response, in seconds (default 600). */
  requestTtlSeconds?: number;
  /** The clock, in epoch ms (tests move it). */
  now?: () => number;
}

/** What a validated response says, before identity mapping. */
export interface ValidatedAssertion {
  assertionId: string;
  nameId: string;
  nameIdFormat?: string | undefined;
  issuer: string;
  inResponseTo?: string | undefined;
  sessionIndex?: string | undefined;
  authnContextClassRef?: string | undefined;
  /** When the IdP authenticated the person (the AuthnStatement's AuthnInstant), epoch ms. */
  authnInstantMs?: number | undefined;
  /** The response used SHA-1 (the connection allows it); diagnostics warn about it. */
  usedSha1: boolean;
  attributes: Record<string, string | string[]>;
}

export interface ValidateOptions {
  /**
   * The AuthnRequest ID this response must answer (SP-initiated). It is consumed atomically on
   * success. Undefined for IdP-initiated responses, which then rely on the replay cache.
   */
  expectedRequestId: string | undefined;
  /** Accept an unsolicited (IdP-initiated) response: only when the connection enables it. */
  allowUnsolicited?: boolean;
  /**
   * The request asked the IdP to authenticate the person again (ForceAuthn), at this time (epoch
   * ms): the AuthnInstant must not be older (less the clock skew), or the IdP answered from an
   * earlier sign-in.
   */
  authenticatedSinceMs?: number | undefined;
}

/** A LogoutRequest from the IdP (IdP-initiated Single Logout) that passed every check. */
export interface ValidatedLogoutRequest {
  /** The LogoutRequest's ID: the LogoutResponse's InResponseTo. */
  requestId: string;
  nameId: string;
  nameIdFormat?: string | undefined;
  sessionIndex?: string | undefined;
  /** The RelayState to send back with the LogoutResponse, if the IdP sent one. */
  relayState?: string | undefined;
}

export interface SamlServiceProvider {
  /** A fresh AuthnRequest ID; store it with the RelayState, then pass both to `sendToIdp`. */
  newRequestId(): string;
  /** Send the browser to the connection's IdP with a new AuthnRequest (Redirect or POST binding). */
  sendToIdp(req: Request, res: Response, options: { connection: ResolvedConnection; requestId: string; relayState: string; forceAuthn?: boolean }): Promise<void>;
  /**
   * Validate the SAMLResponse posted to the ACS; every check of docs/saml-security.md. On
   * success the request ID and the assertion ID are used up. Rejects with SamlRejection whose
   * detail holds what diagnostics need.
   */
  validateResponse(req: Request, connection: ResolvedConnection, options: ValidateOptions): Promise<ValidatedAssertion>;
  /**
   * Validate a LogoutRequest from the connection's IdP at our SLO URL: HTTP-Redirect binding
   * (GET: SAMLRequest, RelayState, SigAlg, Signature in the query) or HTTP-POST binding (POST
   * body). It must be signed by a pinned IdP certificate, come from the IdP's entity ID, be
   * addressed to our SLO URL (when it names a Destination), be recent and unexpired, and be new
   * (its ID is claimed in a replay cache on success). Rejects with SamlRejection (saml.logout_*,
   * saml.slo_not_configured when the IdP has no SLO URL).
   */
  validateLogoutRequest(req: Request, connection: ResolvedConnection): Promise<ValidatedLogoutRequest>;
  /**
   * The URL of the LogoutResponse to the IdP's SLO URL (HTTP-Redirect binding; signed when the
   * connection has an SP signing key): Success, or Requester/UnknownPrincipal when not `success`.
   */
  logoutResponseUrl(connection: ResolvedConnection, requestId: string, relayState: string | undefined, success: boolean): Promise<string>;
  /** The SP metadata XML for a connection. */
  metadata(connection: ResolvedConnection): string;
  /** The IdP settings of a connection (config merged with metadata). */
  idpSettings(connection: ResolvedConnection): IdpSettings;
}

/** Request state the strategy's per-request option callback needs. */
interface PendingCall {
  connection: ResolvedConnection;
  requestId?: string;
  /** Options for Single Logout: sign with the SP key whenever there is one; always deflate (Redirect). */
  logout?: boolean;
  /** Ask the IdP to authenticate the person again; default: the connection's authnRequest.forceAuthn. */
  forceAuthn?: boolean;
}

/**
 * The SAML service provider. AuthnRequests (and Single Logout) through passport with
 * @node-saml/passport-saml's MultiSamlStrategy, one option set per IdP connection; responses at
 * the ACS through our own pipeline (preflight, decryption, assertion checks, signatures verified
 * in the parsed document by signature.ts), with request IDs and assertion IDs consumed atomically.
 */
export function createSamlServiceProvider(deps: ServiceProviderDeps): SamlServiceProvider {
  const requestTtl = deps.requestTtlSeconds ?? 600;
  const now = deps.now ?? Date.now;
  // Derived settings per connection version: parsing metadata and certificates once, not per
  // response. The key changes when the connection does (store-backed connections can be edited).
  const settingsCache = new Map<string, { idp: IdpSettings; policy: ResponsePolicy; keys: TrustedKey[] }>();
  const settingsFor = (connection: ResolvedConnection) => {
    const key = `${connection.id}:${createHash('sha256').update(JSON.stringify(connection)).digest('base64url')}`;
    let settings = settingsCache.get(key);
    if (!settings) {
      const idp = resolveIdpSettings(connection);
      settings = { idp, policy: responsePolicy(deps.issuer, connection, idp), keys: trustedKeys(idp.certificates) };
      if (settingsCache.size >= 1000) settingsCache.clear();
      settingsCache.set(key, settings);
    }
    return settings;
  };

  /** Where node-saml keeps the AuthnRequest IDs of one connection (for InResponseTo). */
  const cacheProviderFor = (connectionId: string): CacheProvider => ({
    async saveAsync(key, value) {
      await deps.store.set(keys.authnRequest(connectionId, key), value, { ttlSeconds: requestTtl });
      return { value, createdAt: now() };
    },
    getAsync: (key) => deps.store.get(keys.authnRequest(connectionId, key)),
    // Never remove on node-saml's behalf (it would after a failed validation, letting a forged
    // response burn the legitimate login): the ID is consumed atomically below, on success only.
    removeAsync: () => Promise.resolve(null),
  });

  const pending = new WeakMap<Request, PendingCall>();
  const optionsFor = (call: PendingCall): PassportSamlConfig => {
    const { connection } = call;
    const { idp, policy } = settingsFor(connection);
    const sp = spUrls(deps.issuer, connection);
    const request = connection.authnRequest;
    return {
      callbackUrl: sp.acsUrl,
      issuer: sp.entityId,
      logoutCallbackUrl: sp.sloUrl,
      ...(idp.sloUrl ? { logoutUrl: idp.sloUrl } : {}),
      audience: sp.entityId,
      entryPoint: idp.ssoUrl,
      idpIssuer: idp.entityId,
      // Only the pinned certificates: a certificate carried in the response's KeyInfo is never trusted.
      idpCert: idp.certificates,
      wantAssertionsSigned: connection.wantAssertionsSigned,
      wantAuthnResponseSigned: connection.wantResponseSigned,
      signatureAlgorithm: 'sha256',
      digestAlgorithm: 'sha256',
      identifierFormat: connection.nameIdFormat,
      acceptedClockSkewMs: policy.clockSkewMs,
      maxAssertionAgeMs: policy.maxAssertionAgeMs + policy.clockSkewMs,
      // 'always' while building an AuthnRequest makes node-saml save its ID in the store. Responses
      // are validated by our own pipeline, which owns InResponseTo (the Response's and the
      // confirmation's must equal the RelayState's request, consumed atomically).
      validateInResponseTo: call.requestId !== undefined ? ValidateInResponseTo.always : ValidateInResponseTo.never,
      requestIdExpirationPeriodMs: requestTtl * 1000,
      cacheProvider: cacheProviderFor(connection.id),
      forceAuthn: call.forceAuthn ?? request.forceAuthn,
      authnRequestBinding: request.binding === 'post' ? 'HTTP-POST' : 'HTTP-Redirect',
      // The HTTP-POST binding carries the request base64-encoded, not deflated (SAML Bindings 3.5.4);
      // node-saml deflates unless told not to.
      skipRequestCompression: !call.logout && request.binding === 'post',
      ...(request.requestedAuthnContext
        ? { disableRequestedAuthnContext: false, authnContext: request.requestedAuthnContext.classRefs, racComparison: request.requestedAuthnContext.comparison }
        : { disableRequestedAuthnContext: true }),
      ...((call.logout || request.sign) && connection.sp.signing ? { privateKey: connection.sp.signing.privateKey } : {}),
      ...(connection.sp.encryption ? { decryptionPvk: connection.sp.encryption.privateKey } : {}),
      ...(call.requestId ? { generateUniqueId: () => call.requestId ?? '' } : {}),
    };
  };

  const strategy = new MultiSamlStrategy(
    {
      passReqToCallback: false,
      getSamlOptions: (req, done) => {
        // passport-saml is typed against its own copy of @types/express; the object is ours.
        const call = pending.get(req as unknown as Request);
        if (!call) return done(new SamlRejection('saml.internal', 'SAML call without a connection'));
        try {
          done(null, optionsFor(call));
        } catch (error) {
          done(error as Error);
        }
      },
    },
    passThrough,
    passThrough,
  );
  const passport = new Passport();
  passport.use('saml', strategy as unknown as Parameters<typeof passport.use>[1]);

  return {
    newRequestId: () => `_${randomBytes(20).toString('hex')}`,

    async sendToIdp(req, res, { connection, requestId, relayState, forceAuthn }) {
      if (connection.authnRequest.binding === 'post') {
        const saml = new SAML(optionsFor({ connection, requestId, forceAuthn }));
        const message = await saml.getAuthorizeMessageAsync(relayState, undefined, {});
        const { idp } = settingsFor(connection);
        const nonce = randomBytes(16).toString('base64');
        res.setHeader('Content-Security-Policy', `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'unsafe-inline'; form-action ${new URL(idp.ssoUrl).origin}; frame-ancestors 'none'; base-uri 'none'`);
        res.setHeader('Cache-Control', 'no-store');
        res.type('html').send(postBindingPage(idp.ssoUrl, message as Record<string, string>, nonce));
        return;
      }
      pending.set(req, { connection, requestId, forceAuthn });
      // passport-saml reads the RelayState to send from req.query; express 5 makes req.query a getter.
      Object.defineProperty(req, 'query', { value: { RelayState: relayState }, configurable: true, enumerable: true });
      await new Promise<void>((resolve, reject) => {
        res.once('finish', () => resolve());
        const middleware = passport.authenticate('saml', { session: false }) as (rq: Request, rs: Response, next: (error?: unknown) => void) => void;
        middleware(req, res, (error?: unknown) => reject(toSamlRejection(error ?? new Error('SAML redirect did not happen'))));
      });
    },

    async validateResponse(req, connection, options) {
      const { policy, keys: pinned } = settingsFor(connection);
      const encoded: unknown = (req.body as Record<string, unknown> | undefined)?.['SAMLResponse'];
      let envelope: Envelope | undefined;
      try {
        if (typeof encoded !== 'string' || encoded.length === 0) throw new SamlRejection('saml.response_missing', 'no SAMLResponse in the POST body');
        envelope = preflight(encoded, policy);
        const unsolicited = options.expectedRequestId === undefined;
        if (unsolicited) {
          if (!options.allowUnsolicited) throw new SamlRejection('saml.unsolicited', 'IdP-initiated responses are not accepted on this connection');
          if (envelope.inResponseTo !== undefined) throw new SamlRejection('saml.in_response_to_unexpected', 'an unsolicited response names a request');
        } else if (envelope.inResponseTo === undefined) {
          throw new SamlRejection('saml.in_response_to_missing', 'the response does not say which request it answers');
        } else if (envelope.inResponseTo !== options.expectedRequestId) {
          throw new SamlRejection('saml.in_response_to_mismatch', 'the response answers another request', { expectedInResponseTo: options.expectedRequestId, receivedInResponseTo: envelope.inResponseTo });
        }
        // Our checks first, on the one assertion there is (decrypted with the connection's key
        // when encrypted), so each problem gets its own code...
        let assertion = envelope.assertion;
        if (!assertion && envelope.encryptedAssertion && connection.sp.encryption) {
          assertion = await decryptAssertion(envelope.encryptedAssertion, connection.sp.encryption.privateKey, policy.maxDepth);
          checkDecryptedSignatures(assertion, policy, envelope);
          checkIdentityComments(assertion, envelope);
        }
        if (!assertion) throw new SamlRejection('saml.no_assertion', 'the Response carries no readable assertion');
        const checked = checkAssertion(assertion, policy, envelope, now(), options.expectedRequestId, options.authenticatedSinceMs);
        // ...then the signatures, in the same parsed document: every signature on the Response
        // or the assertion must hold (the preflight made sure the ones the connection demands,
        // and at least one covering the assertion, are there), verified with pinned keys only.
        // The assertion read below is the element whose canonical form was verified.
        const signatureOptions = { allowSha1: policy.allowSha1 };
        if (envelope.responseSigned) verifyEnvelopedSignature(envelope.root, pinned, signatureOptions);
        if (envelope.assertionSigned) verifyEnvelopedSignature(assertion, pinned, signatureOptions);
        if (!envelope.responseSigned && !envelope.assertionSigned) throw new SamlRejection('saml.signature_missing', 'neither the Response nor the Assertion is signed');
        // Use up the request ID and claim the assertion ID (replay cache) in one atomic step: of
        // concurrent posts answering one request exactly one gets past, and the losers leave
        // nothing behind. (A replayed assertion with a fresh, valid InResponseTo can only come
        // from the IdP itself.) IdP-initiated responses have no request: the claim alone.
        const ttlSeconds = Math.max(1, Math.ceil((checked.validUntilMs - now()) / 1000));
        const seenKey = keys.assertionSeen(connection.id, checked.id);
        const outcome =
          options.expectedRequestId === undefined
            ? (await deps.store.setIfAbsent(seenKey, '1', { ttlSeconds }))
              ? 'claimed'
              : 'already-claimed'
            : await deps.store.consumeAndClaim(keys.authnRequest(connection.id, options.expectedRequestId), seenKey, ttlSeconds);
        if (outcome === 'missing') throw new SamlRejection('saml.in_response_to_reused', 'the request this response answers was already used');
        if (outcome === 'already-claimed') throw new SamlRejection('saml.replay', 'this assertion was already used', { assertionId: checked.id });
        return { ...toAssertion(readAssertion(assertion), checked, envelope.usedSha1), authnInstantMs: checked.authnInstantMs };
      } catch (error) {
        const rejection = toSamlRejection(error);
        Object.assign(rejection.detail, expectations(policy), envelope ? clockDifference(envelope, now()) : {}, rejection.detail);
        throw rejection;
      }
    },

    async validateLogoutRequest(req, connection) {
      const { idp, policy } = settingsFor(connection);
      const sp = spUrls(deps.issuer, connection);
      const detail: Record<string, unknown> = { expectedIssuer: idp.entityId, expectedDestination: sp.sloUrl, configuredFingerprints: policy.pinnedFingerprints };
      try {
        if (!idp.sloUrl) throw new SamlRejection('saml.slo_not_configured', 'the IdP of this connection has no SLO URL');
        const logoutPolicy: LogoutPolicy = { idpEntityId: idp.entityId, sloUrl: sp.sloUrl, allowSha1: policy.allowSha1, clockSkewMs: policy.clockSkewMs, maxAgeMs: requestTtl * 1000 };
        const saml = new SAML(optionsFor({ connection, logout: true }));
        let checked;
        let result: { profile: Profile | null };
        let relayState: string | undefined;
        if (req.method === 'GET') {
          const rawQuery = req.originalUrl.includes('?') ? req.originalUrl.slice(req.originalUrl.indexOf('?') + 1) : '';
          const message = parseRedirectQuery(rawQuery);
          relayState = message.relayState;
          checked = checkLogoutRequest(inflateRedirectRequest(message.samlRequest), logoutPolicy, now(), 'redirect');
          checkRedirectSignaturePresent(message, policy.allowSha1);
          const container: Record<string, string> = { SAMLRequest: message.samlRequest, SigAlg: message.sigAlg ?? '', Signature: message.signature ?? '' };
          if (message.relayState !== undefined) container['RelayState'] = message.relayState;
          // node-saml verifies the query signature against the pinned certificates only, over
          // the octets rebuilt from the raw query (SAML Bindings 3.4.4.1).
          result = await saml.validateRedirectAsync(container, message.signedOctets);
        } else {
          const body = (req.body ?? {}) as Record<string, unknown>;
          const encoded = body['SAMLRequest'];
          if (typeof encoded !== 'string' || encoded.length === 0) throw new SamlRejection('saml.logout_invalid', 'no SAMLRequest in the POST body');
          relayState = typeof body['RelayState'] === 'string' ? body['RelayState'] : undefined;
          checked = checkLogoutRequest(decodePostRequest(encoded), logoutPolicy, now(), 'post');
          result = await saml.validatePostRequestAsync({ SAMLRequest: encoded });
        }
        const profile = result.profile;
        if (!profile || profile.ID !== checked.id || profile.nameID !== checked.nameId) throw new SamlRejection('saml.logout_invalid', 'the validated LogoutRequest is not the one that was checked');
        // A LogoutRequest acts once: its ID is claimed until it could no longer be accepted anyway.
        const ttlSeconds = Math.max(1, Math.ceil((checked.validUntilMs - now()) / 1000));
        if (!(await deps.store.setIfAbsent(keys.logoutRequestSeen(connection.id, checked.id), '1', { ttlSeconds }))) {
          throw new SamlRejection('saml.logout_replay', 'this LogoutRequest was already used', { logoutRequestId: checked.id });
        }
        return { requestId: checked.id, nameId: checked.nameId, nameIdFormat: profile.nameIDFormat || undefined, sessionIndex: checked.sessionIndex, relayState };
      } catch (error) {
        const rejection = toLogoutRejection(error);
        Object.assign(rejection.detail, detail, { connectionId: connection.id }, rejection.detail);
        throw rejection;
      }
    },

    async logoutResponseUrl(connection, requestId, relayState, success) {
      const { idp } = settingsFor(connection);
      if (!idp.sloUrl) throw new SamlRejection('saml.slo_not_configured', 'the IdP of this connection has no SLO URL');
      const saml = new SAML(optionsFor({ connection, logout: true }));
      const request: Profile = { ID: requestId, issuer: idp.entityId, nameID: '', nameIDFormat: '' };
      return saml.getLogoutResponseUrlAsync(request, relayState ?? '', {}, success);
    },

    metadata(connection) {
      const sp = spUrls(deps.issuer, connection);
      // The SingleLogoutService is published only when the IdP has an SLO URL: only then does
      // the SLO endpoint answer.
      let idpSloUrl: string | undefined;
      try {
        idpSloUrl = settingsFor(connection).idp.sloUrl;
      } catch {
        idpSloUrl = undefined;
      }
      return generateServiceProviderMetadata({
        issuer: sp.entityId,
        callbackUrl: sp.acsUrl,
        ...(idpSloUrl ? { logoutCallbackUrl: sp.sloUrl } : {}),
        identifierFormat: connection.nameIdFormat,
        wantAssertionsSigned: connection.wantAssertionsSigned,
        decryptionCert: connection.sp.encryption?.certificate ?? null,
        publicCerts: connection.sp.signing?.certificate ?? null,
        // node-saml publishes the certificates only when it sees the keys (it never uses them here).
        ...(connection.sp.signing ? { privateKey: connection.sp.signing.privateKey } : {}),
        ...(connection.sp.encryption ? { decryptionPvk: connection.sp.encryption.privateKey } : {}),
      });
    },

    idpSettings: (connection) => settingsFor(connection).idp,
  };
}

/** node-saml's logout validation messages, as stable codes. */
function toLogoutRejection(error: unknown): SamlRejection {
  if (error instanceof SamlRejection) return error;
  const message = error instanceof Error ? error.message : String(error);
  const code = /signature/i.test(message)
    ? 'saml.logout_invalid_signature'
    : /issuer/i.test(message)
      ? 'saml.logout_issuer_mismatch'
      : /expired|not yet valid/i.test(message)
        ? 'saml.logout_expired'
        : 'saml.logout_invalid';
  return new SamlRejection(code, message, { reason: message });
}

const passThrough: VerifyWithoutRequest = (profile, done) => done(null, profile ?? undefined);

/** What the connection expected, for the support engineer reading a rejection. */
function expectations(policy: ResponsePolicy): Record<string, unknown> {
  return {
    connectionId: policy.connectionId,
    expectedAudience: policy.spEntityId,
    expectedIssuer: policy.idpEntityId,
    expectedDestination: policy.acsUrl,
    configuredFingerprints: policy.pinnedFingerprints,
  };
}

function clockDifference(envelope: Envelope, nowMs: number): Record<string, unknown> {
  const issued = envelope.issueInstant === undefined ? Number.NaN : Date.parse(envelope.issueInstant);
  return Number.isNaN(issued) ? {} : { clockDifferenceSeconds: Math.round((issued - nowMs) / 1000) };
}

function toAssertion(read: AssertionContents, checked: { id: string; authnContextClassRef?: string | undefined; inResponseTo?: string | undefined }, usedSha1: boolean): ValidatedAssertion {
  return {
    assertionId: checked.id,
    nameId: read.nameId,
    nameIdFormat: read.nameIdFormat,
    issuer: read.issuer,
    inResponseTo: checked.inResponseTo,
    sessionIndex: read.sessionIndex,
    authnContextClassRef: checked.authnContextClassRef,
    usedSha1,
    attributes: read.attributes,
  };
}
