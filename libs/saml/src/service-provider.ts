import { randomBytes } from 'node:crypto';
import type { Request, Response } from 'express';
import { Passport } from 'passport';
import {
  MultiSamlStrategy,
  ValidateInResponseTo,
  generateServiceProviderMetadata,
  type CacheProvider,
  type PassportSamlConfig,
  type Profile,
  type VerifyWithoutRequest,
} from '@node-saml/passport-saml';
import type { ResolvedConnection } from '@broker/config';
import { keys, type Store } from '@broker/store';
import { resolveIdpSettings, spUrls, type IdpSettings } from './connection-settings.ts';
import { SamlRejection, toSamlRejection } from './rejection.ts';

export interface ServiceProviderDeps {
  /** The broker's public origin; SP entity IDs and ACS URLs live under it. */
  issuer: string;
  store: Store;
  /** The connection for an id, or undefined. */
  findConnection: (connectionId: string) => ResolvedConnection | undefined;
  /** How long an AuthnRequest may wait for its response, in seconds (default 600). */
  requestTtlSeconds?: number;
  /** Accepted clock difference with the IdP, in ms (default 60 s). */
  clockSkewMs?: number;
}

/** What a validated response says, before identity mapping. */
export interface ValidatedAssertion {
  nameId: string;
  nameIdFormat?: string | undefined;
  issuer: string;
  inResponseTo?: string | undefined;
  sessionIndex?: string | undefined;
  attributes: Record<string, string | string[]>;
}

export interface SamlServiceProvider {
  /** A fresh AuthnRequest ID; store it with the RelayState, then pass both to `redirectToIdp`. */
  newRequestId(): string;
  /** Send the browser to the connection's IdP with a new AuthnRequest (HTTP-Redirect binding). */
  redirectToIdp(req: Request, res: Response, options: { connection: ResolvedConnection; requestId: string; relayState: string }): Promise<void>;
  /**
   * Validate the SAMLResponse posted to the ACS: pinned certificates only, audience, issuer,
   * time conditions and InResponseTo against the stored AuthnRequest. Rejects with SamlRejection.
   */
  validateResponse(req: Request, res: Response, connection: ResolvedConnection): Promise<ValidatedAssertion>;
  /** The SP metadata XML for a connection. */
  metadata(connection: ResolvedConnection): string;
  /** The IdP settings of a connection (config merged with metadata). */
  idpSettings(connection: ResolvedConnection): IdpSettings;
}

/** Request state the strategy's per-request option callback needs. */
interface PendingCall {
  connection: ResolvedConnection;
  requestId?: string;
}

/**
 * The SAML service provider: passport with @node-saml/passport-saml's MultiSamlStrategy, one
 * option set per IdP connection, AuthnRequest IDs in the store for InResponseTo.
 */
export function createSamlServiceProvider(deps: ServiceProviderDeps): SamlServiceProvider {
  const requestTtl = deps.requestTtlSeconds ?? 600;
  const settingsCache = new Map<string, IdpSettings>();
  const idpSettings = (connection: ResolvedConnection): IdpSettings => {
    let settings = settingsCache.get(connection.id);
    if (!settings) {
      settings = resolveIdpSettings(connection);
      settingsCache.set(connection.id, settings);
    }
    return settings;
  };

  const cacheProvider: CacheProvider = {
    async saveAsync(key, value) {
      await deps.store.set(keys.authnRequest(key), value, { ttlSeconds: requestTtl });
      return { value, createdAt: Date.now() };
    },
    getAsync: (key) => deps.store.get(keys.authnRequest(key)),
    // Called once a response naming this request was validated (or failed): single use.
    removeAsync: async (key) => (key === null ? null : deps.store.take(keys.authnRequest(key))),
  };

  const pending = new WeakMap<Request, PendingCall>();
  const optionsFor = (call: PendingCall): PassportSamlConfig => {
    const { connection } = call;
    const idp = idpSettings(connection);
    const sp = spUrls(deps.issuer, connection.id);
    return {
      callbackUrl: sp.acsUrl,
      issuer: sp.entityId,
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
      acceptedClockSkewMs: deps.clockSkewMs ?? 60_000,
      validateInResponseTo: ValidateInResponseTo.always,
      requestIdExpirationPeriodMs: requestTtl * 1000,
      cacheProvider,
      disableRequestedAuthnContext: true,
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

    redirectToIdp(req, res, { connection, requestId, relayState }) {
      pending.set(req, { connection, requestId });
      // passport-saml reads the RelayState to send from req.query; express 5 makes req.query a getter.
      Object.defineProperty(req, 'query', { value: { RelayState: relayState }, configurable: true, enumerable: true });
      return new Promise<void>((resolve, reject) => {
        res.once('finish', () => resolve());
        const middleware = passport.authenticate('saml', { session: false }) as (rq: Request, rs: Response, next: (error?: unknown) => void) => void;
        middleware(req, res, (error?: unknown) => reject(toSamlRejection(error ?? new Error('SAML redirect did not happen'))));
      });
    },

    validateResponse(req, res, connection) {
      const encoded: unknown = (req.body as Record<string, unknown> | undefined)?.['SAMLResponse'];
      if (typeof encoded !== 'string' || encoded.length === 0) {
        return Promise.reject(new SamlRejection('saml.response_missing', 'no SAMLResponse in the POST body'));
      }
      const xml = Buffer.from(encoded, 'base64').toString('utf8');
      if (!xml.trimStart().startsWith('<')) return Promise.reject(new SamlRejection('saml.malformed', 'SAMLResponse is not base64-encoded XML'));
      // Entity declarations are the door to XXE and expansion attacks; SAML never needs them.
      if (/<!DOCTYPE/i.test(xml)) return Promise.reject(new SamlRejection('saml.doctype_forbidden', 'SAMLResponse contains a DOCTYPE'));
      pending.set(req, { connection });
      return new Promise<ValidatedAssertion>((resolve, reject) => {
        const callback = (error: unknown, user: Profile | false | undefined, info: { message?: string } | undefined) => {
          if (error) return reject(toSamlRejection(error));
          if (!user) return reject(new SamlRejection('saml.invalid_response', info?.message ?? 'response rejected'));
          resolve(toAssertion(user));
        };
        const middleware = passport.authenticate('saml', { session: false }, callback) as (rq: Request, rs: Response, next: (error?: unknown) => void) => void;
        middleware(req, res, (error?: unknown) => reject(toSamlRejection(error)));
      });
    },

    metadata(connection) {
      const sp = spUrls(deps.issuer, connection.id);
      return generateServiceProviderMetadata({
        issuer: sp.entityId,
        callbackUrl: sp.acsUrl,
        identifierFormat: connection.nameIdFormat,
        wantAssertionsSigned: connection.wantAssertionsSigned,
        decryptionCert: null,
        publicCerts: null,
      });
    },

    idpSettings,
  };
}

const passThrough: VerifyWithoutRequest = (profile, done) => done(null, profile ?? undefined);

function toAssertion(profile: Profile): ValidatedAssertion {
  const attributes: Record<string, string | string[]> = {};
  const raw = (profile.attributes ?? {}) as Record<string, unknown>;
  for (const [name, value] of Object.entries(raw)) {
    if (typeof value === 'string') attributes[name] = value;
    else if (Array.isArray(value)) attributes[name] = value.filter((v): v is string => typeof v === 'string');
  }
  return {
    nameId: profile.nameID,
    nameIdFormat: profile.nameIDFormat,
    issuer: profile.issuer,
    inResponseTo: typeof profile['inResponseTo'] === 'string' ? profile['inResponseTo'] : undefined,
    sessionIndex: profile.sessionIndex,
    attributes,
  };
}
