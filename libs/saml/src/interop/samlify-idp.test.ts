/**
 * Interop: samlify, an implementation independent of node-saml, plays the IdP; our SP is the real
 * createSamlServiceProvider on a memory store, with the AuthnRequest started through its own
 * sendToIdp. For each signature placement (and encryption) a connection that asks for that
 * placement accepts the response and maps the person; a connection that asks for the other
 * placement refuses the very same response with the specific code, without burning the login.
 */
import { describe, expect, it } from 'vitest';
import type { ResolvedConnection } from '@broker/config';
import { createMemoryStore, keys, type Store } from '@broker/store';
import { SamlRejection } from '../rejection.ts';
import { createSamlServiceProvider, type SamlServiceProvider, type ValidatedAssertion } from '../service-provider.ts';
import { AC_PASSWORD_PROTECTED, NAMEID_EMAIL, createSamlifyIdp, type SamlifyMode } from './samlify-idp.ts';
import { BROKER_ISSUER, acsPost, interopConnection, mapIdentity, spEndpoints, startLogin, type InteropConnectionOptions } from './support.ts';

const idp = createSamlifyIdp();
const person = { email: 'Ada.Lovelace@example.org', givenName: 'Ada', surname: 'Lovelace' };

interface Party {
  store: Store;
  sp: SamlServiceProvider;
  connection: ResolvedConnection;
}

/** One SP over `store` with one connection to the samlify IdP. */
function party(options: Omit<InteropConnectionOptions, 'idpEntityId'>, store: Store = createMemoryStore()): Party {
  return { store, sp: createSamlServiceProvider({ issuer: BROKER_ISSUER, store }), connection: interopConnection({ ...options, idpEntityId: idp.entityId }) };
}

/** Start a login at `party`, have samlify answer it in `mode`. */
async function loginResponse(at: Party, mode: SamlifyMode): Promise<{ requestId: string; samlResponse: string }> {
  const { requestId, location } = await startLogin(at.sp, at.connection);
  expect(new URL(location).searchParams.get('SAMLRequest')).toBeTruthy();
  expect(await at.store.get(keys.authnRequest(at.connection.id, requestId))).not.toBeNull();
  const samlResponse = await idp.respond({ mode, requestId, ...spEndpoints(at.connection), user: person });
  return { requestId, samlResponse };
}

const post = (at: Party, samlResponse: string, requestId: string): Promise<ValidatedAssertion> => {
  const req = acsPost(samlResponse);
  return at.sp.validateResponse(req, at.connection, { expectedRequestId: requestId });
};

async function rejectionOf(promise: Promise<unknown>): Promise<SamlRejection> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SamlRejection);
  return error as SamlRejection;
}

/** The response validated, the person mapped, the request ID used up. */
async function expectAccepted(at: Party, samlResponse: string, requestId: string): Promise<void> {
  const assertion = await post(at, samlResponse, requestId);
  expect(assertion).toMatchObject({
    nameId: person.email,
    nameIdFormat: NAMEID_EMAIL,
    issuer: idp.entityId,
    inResponseTo: requestId,
    authnContextClassRef: AC_PASSWORD_PROTECTED,
    usedSha1: false,
    attributes: { email: person.email, givenName: person.givenName, surname: person.surname },
  });
  expect(assertion.assertionId).toMatch(/^_[0-9a-f-]{36}$/);
  expect(assertion.sessionIndex).toMatch(/^_[0-9a-f-]{36}$/);
  expect(mapIdentity(at.connection, assertion)).toEqual({ subject: person.email, email: 'ada.lovelace@example.org', givenName: 'Ada', surname: 'Lovelace' });
  expect(await at.store.get(keys.authnRequest(at.connection.id, requestId))).toBeNull();
}

interface ModeCase {
  mode: SamlifyMode;
  /** A connection that asks for this placement. */
  accepts: Omit<InteropConnectionOptions, 'idpEntityId'>;
  /** A connection that asks for the other placement, and the code it refuses with. */
  refuses: Omit<InteropConnectionOptions, 'idpEntityId'>;
  code: string;
}

const CASES: ModeCase[] = [
  { mode: 'response', accepts: { wantResponseSigned: true, wantAssertionsSigned: false }, refuses: { wantResponseSigned: false, wantAssertionsSigned: true }, code: 'saml.assertion_unsigned' },
  { mode: 'assertion', accepts: { wantResponseSigned: false, wantAssertionsSigned: true }, refuses: { wantResponseSigned: true, wantAssertionsSigned: false }, code: 'saml.response_unsigned' },
  { mode: 'encrypted', accepts: { encrypted: true, wantAssertionsSigned: true }, refuses: { encrypted: true, wantResponseSigned: true, wantAssertionsSigned: false }, code: 'saml.response_unsigned' },
];

describe('samlify as the IdP, our SP through createSamlServiceProvider', () => {
  for (const { mode, accepts, refuses, code } of CASES) {
    it(`${mode}: accepted where that placement is asked for, ${code} where the other is`, async () => {
      const store = createMemoryStore();
      const accepting = party(accepts, store);
      const { requestId, samlResponse } = await loginResponse(accepting, mode);
      // Same store, same connection ID (so the same ACS, audience and pending request): only the
      // signature demand differs. The refusal leaves the login usable.
      const refusing = party(refuses, store);
      const rejection = await rejectionOf(post(refusing, samlResponse, requestId));
      expect(rejection.code).toBe(code);
      expect(await store.get(keys.authnRequest(accepting.connection.id, requestId))).not.toBeNull();
      await expectAccepted(accepting, samlResponse, requestId);
    });
  }

  it('both: accepted by a connection that asks for both, and by one that asks for either', async () => {
    for (const demand of [
      { wantResponseSigned: true, wantAssertionsSigned: true },
      { wantResponseSigned: true, wantAssertionsSigned: false },
      { wantResponseSigned: false, wantAssertionsSigned: true },
    ]) {
      const at = party(demand);
      const { requestId, samlResponse } = await loginResponse(at, 'both');
      expect(Buffer.from(samlResponse, 'base64').toString('utf8').match(/<ds:Signature /g)).toHaveLength(2);
      await expectAccepted(at, samlResponse, requestId);
    }
  });

  it('both: a connection that wants both signatures refuses either one alone', async () => {
    const both = party({ wantResponseSigned: true, wantAssertionsSigned: true });
    const assertionOnly = await loginResponse(both, 'assertion');
    expect((await rejectionOf(post(both, assertionOnly.samlResponse, assertionOnly.requestId))).code).toBe('saml.response_unsigned');
    const responseOnly = await loginResponse(both, 'response');
    expect((await rejectionOf(post(both, responseOnly.samlResponse, responseOnly.requestId))).code).toBe('saml.assertion_unsigned');
  });

  it('encrypted: the encrypted assertion is what the XML carries, and a plaintext one is refused where encryption is required', async () => {
    const encrypted = party({ encrypted: true, wantAssertionsSigned: true });
    const { requestId, samlResponse } = await loginResponse(encrypted, 'encrypted');
    const xml = Buffer.from(samlResponse, 'base64').toString('utf8');
    expect(xml).toContain('http://www.w3.org/2009/xmlenc11#aes256-gcm');
    expect(xml).toContain('http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p');
    expect(xml).not.toContain(person.email);
    await expectAccepted(encrypted, samlResponse, requestId);

    const plaintext = await loginResponse(encrypted, 'assertion');
    expect((await rejectionOf(post(encrypted, plaintext.samlResponse, plaintext.requestId))).code).toBe('saml.encryption_required');
  });

  it('encrypted with the Response signed after encryption: accepted where the Response signature is asked for, saml.assertion_unsigned where a signed assertion is', async () => {
    const store = createMemoryStore();
    const accepting = party({ encrypted: true, wantResponseSigned: true, wantAssertionsSigned: false }, store);
    const { requestId, samlResponse } = await loginResponse(accepting, 'encrypted-response-signed');
    // The assertion inside is unsigned: a connection that wants it signed can only tell after
    // decryption, and refuses it with the same code as a plaintext unsigned assertion.
    const refusing = party({ encrypted: true, wantResponseSigned: false, wantAssertionsSigned: true }, store);
    const rejection = await rejectionOf(post(refusing, samlResponse, requestId));
    expect(rejection.code).toBe('saml.assertion_unsigned');
    expect(await store.get(keys.authnRequest(accepting.connection.id, requestId))).not.toBeNull();
    await expectAccepted(accepting, samlResponse, requestId);
  });

  it('the accepted response cannot be posted again', async () => {
    const at = party({ wantAssertionsSigned: true });
    const { requestId, samlResponse } = await loginResponse(at, 'assertion');
    await expectAccepted(at, samlResponse, requestId);
    const rejection = await rejectionOf(post(at, samlResponse, requestId));
    // node-saml's InResponseTo cache read refuses it first (unknown); without that read, our own
    // atomic take of the request ID does (reused).
    expect(['saml.in_response_to_unknown', 'saml.in_response_to_reused']).toContain(rejection.code);
  });
});
