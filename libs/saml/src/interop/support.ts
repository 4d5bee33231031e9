/**
 * Test-only support for the interop suites and the ACS benchmark (tools/saml-acs-bench.ts):
 * the test keys, a connection built in code, the express-shaped objects validateResponse needs,
 * and the start of an SP-initiated login through the service provider's own flow.
 *
 * Nothing here imports vitest, so the benchmark can use it too. Never imported by production code.
 */
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Request, Response } from 'express';
import { CONNECTION_DEFAULTS, type ResolvedConnection } from '@broker/config';
import { keys, type Store } from '@broker/store';
import { spUrls } from '../connection-settings.ts';
import type { SamlServiceProvider, ValidatedAssertion } from '../service-provider.ts';

const KEY_DIR = new URL('../../../testing/fixtures/keys/', import.meta.url);
const readKey = (name: string): string => readFileSync(fileURLToPath(new URL(name, KEY_DIR)), 'utf8');

/** The test key pairs (libs/testing/fixtures/keys): idp-a signs, sp-encryption decrypts. */
export const TEST_KEYS = {
  idpKey: readKey('idp-a.key.pem'),
  idpCert: readKey('idp-a.cert.pem'),
  /** Not trusted by interop connections; stands in for an issuing CA's certificate. */
  otherCert: readKey('idp-b.cert.pem'),
  spEncryptionKey: readKey('sp-encryption.key.pem'),
  spEncryptionCert: readKey('sp-encryption.cert.pem'),
} as const;

/** The broker's public origin in these suites; the SP's entity ID and ACS URL live under it. */
export const BROKER_ISSUER = 'https://login.broker.test';

/** The certificate body (base64 DER, one line), as IdPs put it in KeyInfo. */
export const certificateBody = (pem: string): string => pem.replace(/-----[A-Z ]+-----|\s+/g, '');

export interface InteropConnectionOptions {
  id?: string;
  idpEntityId: string;
  wantAssertionsSigned?: boolean;
  wantResponseSigned?: boolean;
  /** Give the SP a decryption key pair (sp-encryption) and require encrypted assertions. */
  encrypted?: boolean;
  attributes?: ResolvedConnection['attributes'];
  nameIdFormat?: string;
}

/** A connection as config loading would resolve it, trusting idp-a. */
export function interopConnection(options: InteropConnectionOptions): ResolvedConnection {
  return {
    ...CONNECTION_DEFAULTS,
    id: options.id ?? 'interop-idp',
    idp: { entityId: options.idpEntityId, ssoUrl: 'https://idp.example.test/sso', certificates: [TEST_KEYS.idpCert] },
    wantAssertionsSigned: options.wantAssertionsSigned ?? true,
    wantResponseSigned: options.wantResponseSigned ?? false,
    nameIdFormat: options.nameIdFormat ?? 'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified',
    security: { ...CONNECTION_DEFAULTS.security, requireEncryptedAssertions: options.encrypted ?? false },
    authnRequest: { ...CONNECTION_DEFAULTS.authnRequest },
    sp: options.encrypted ? { encryption: { privateKey: TEST_KEYS.spEncryptionKey, certificate: TEST_KEYS.spEncryptionCert } } : {},
    attributes: options.attributes ?? { email: 'email', givenName: 'givenName', surname: 'surname' },
  };
}

/** Where the IdP must address its response for this connection: our entity ID and ACS URL. */
export function spEndpoints(connection: ResolvedConnection): { spEntityId: string; acsUrl: string } {
  const urls = spUrls(BROKER_ISSUER, connection.id);
  return { spEntityId: urls.entityId, acsUrl: urls.acsUrl };
}

/** The POST to the ACS as express would hand it over: only the body is read. */
export function acsPost(samlResponse: string): Request {
  const req = { method: 'POST', url: '/acs', headers: {}, query: {}, body: { SAMLResponse: samlResponse } };
  return req as unknown as Request;
}

/**
 * Start an SP-initiated login the way the broker does: `newRequestId` then `sendToIdp` with the
 * Redirect binding, which stores the AuthnRequest ID through the SP's cache provider. Returns
 * the request ID (the InResponseTo the IdP must answer) and the redirect URL.
 */
export async function startLogin(sp: SamlServiceProvider, connection: ResolvedConnection): Promise<{ requestId: string; location: string }> {
  const requestId = sp.newRequestId();
  const headers = new Map<string, string>();
  const res = Object.assign(new EventEmitter(), {
    statusCode: 200,
    setHeader(name: string, value: string) {
      headers.set(name.toLowerCase(), String(value));
    },
    end() {
      res.emit('finish');
    },
  });
  const req = { method: 'GET', url: '/login', headers: {}, body: {} };
  await sp.sendToIdp(req as unknown as Request, res as unknown as Response, { connection, requestId, relayState: 'interop-relay' });
  return { requestId, location: headers.get('location') ?? '' };
}

/**
 * Store an AuthnRequest ID exactly as the SP's cache provider does (`saveAsync`: the key
 * `keys.authnRequest(connectionId, id)`, node-saml's value, the creation instant). For the
 * benchmark, which needs hundreds of pending requests without building AuthnRequests.
 */
export async function savePendingRequest(store: Store, connectionId: string, requestId: string, ttlSeconds = 600): Promise<void> {
  await store.set(keys.authnRequest(connectionId, requestId), new Date().toISOString(), { ttlSeconds });
}

/** The identity the broker derives from an assertion (the rules of libs/authn's mapAssertion). */
export interface MappedIdentity {
  subject: string;
  email?: string | undefined;
  givenName?: string | undefined;
  surname?: string | undefined;
}

const firstValue = (value: string | string[] | undefined): string | undefined => {
  const v = (Array.isArray(value) ? value[0] : value)?.trim();
  return v ? v : undefined;
};

/**
 * Map an assertion through the connection's `attributes` names. The saml lib may not import
 * libs/authn (a feature lib), so this repeats its rules: NameID is the subject, email falls back
 * to an email-shaped NameID.
 */
export function mapIdentity(connection: ResolvedConnection, assertion: ValidatedAssertion): MappedIdentity {
  const names = connection.attributes;
  const email = firstValue(assertion.attributes[names.email]) ?? (/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(assertion.nameId) ? assertion.nameId : undefined);
  return {
    subject: assertion.nameId,
    email: email?.toLowerCase(),
    givenName: firstValue(assertion.attributes[names.givenName]),
    surname: firstValue(assertion.attributes[names.surname]),
  };
}

/** ISO instant `deltaMs` from now (IdPs send milliseconds; some send none). */
export const instant = (deltaMs = 0, nowMs = Date.now()): string => new Date(nowMs + deltaMs).toISOString();
