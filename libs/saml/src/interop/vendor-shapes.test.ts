/**
 * Interop: responses shaped like Microsoft Entra ID's, Okta's and AD FS's (vendor-responses.ts
 * says what each is modelled on), signed with the idp-a test key, through the real
 * createSamlServiceProvider on a memory store. Each connection's `attributes` mapping names that
 * vendor's attributes, as an administrator would configure it; each test asserts what the broker
 * would record and the vendor-specific attributes that come through untouched.
 */
import { describe, expect, it } from 'vitest';
import type { ResolvedConnection } from '@broker/config';
import { createMemoryStore, keys } from '@broker/store';
import { createSamlServiceProvider, type SamlServiceProvider, type ValidatedAssertion } from '../service-provider.ts';
import { BROKER_ISSUER, acsPost, interopConnection, mapIdentity, spEndpoints, startLogin, type InteropConnectionOptions } from './support.ts';
import {
  AUTHN_CONTEXT,
  CLAIMS,
  ENTRA_TENANT_ID,
  NAMEID,
  adfsIssuer,
  adfsResponse,
  decodeResponse,
  entraIdResponse,
  entraIssuer,
  oktaIssuer,
  oktaResponse,
  type ResponseTarget,
} from './vendor-responses.ts';

const person = { email: 'Grace.Hopper@contoso.test', givenName: 'Grace', surname: 'Hopper' };

const MICROSOFT_CLAIM_MAPPING = { email: CLAIMS.emailaddress, givenName: CLAIMS.givenname, surname: CLAIMS.surname };

interface Login {
  sp: SamlServiceProvider;
  connection: ResolvedConnection;
  target: ResponseTarget;
  /** Post a response to the ACS and validate it against the pending request. */
  post(samlResponse: string): Promise<ValidatedAssertion>;
  requestPending(): Promise<boolean>;
}

/** A connection to the vendor, and a login started through the SP's own flow. */
async function startVendorLogin(options: InteropConnectionOptions): Promise<Login> {
  const store = createMemoryStore();
  const sp = createSamlServiceProvider({ issuer: BROKER_ISSUER, store });
  const connection = interopConnection(options);
  const { requestId } = await startLogin(sp, connection);
  return {
    sp,
    connection,
    target: { requestId, ...spEndpoints(connection) },
    post(samlResponse) {
      const req = acsPost(samlResponse);
      return sp.validateResponse(req, connection, { expectedRequestId: requestId });
    },
    requestPending: async () => (await store.get(keys.authnRequest(connection.id, requestId))) !== null,
  };
}

describe('Microsoft Entra ID shaped responses', () => {
  const groups = ['0e9f6a2c-54c3-4e0a-9b0f-2f1c8a3d7e61', 'c1d8b7e2-9a4f-4f3b-8e2d-6b5a4c3d2e1f'];

  it('persistent NameID, Assertion signed only: the claims map through the connection', async () => {
    const login = await startVendorLogin({ idpEntityId: entraIssuer(ENTRA_TENANT_ID), attributes: MICROSOFT_CLAIM_MAPPING });
    const samlResponse = entraIdResponse({ ...login.target, person, nameIdFormat: 'persistent', groups });
    const xml = decodeResponse(samlResponse);
    // The shape under test: default-namespace assertion, unprefixed Signature, SHA-256, NotBefore before IssueInstant.
    expect(xml).toContain('<Assertion ID="_');
    expect(xml).toContain('<Signature xmlns="http://www.w3.org/2000/09/xmldsig#">');
    expect(xml).toContain('http://www.w3.org/2001/04/xmldsig-more#rsa-sha256');
    expect(xml.match(/<(\w+:)?Signature[\s>]/g)).toHaveLength(1);

    const assertion = await login.post(samlResponse);
    expect(assertion).toMatchObject({
      nameId: 'm6rAl1bmcK0Kq7-0_zT4OWfHrr6QIWKaUo2WnCnqVX8',
      nameIdFormat: NAMEID.persistent,
      issuer: entraIssuer(ENTRA_TENANT_ID),
      inResponseTo: login.target.requestId,
      authnContextClassRef: AUTHN_CONTEXT.password,
      usedSha1: false,
    });
    expect(mapIdentity(login.connection, assertion)).toEqual({ subject: 'm6rAl1bmcK0Kq7-0_zT4OWfHrr6QIWKaUo2WnCnqVX8', email: 'grace.hopper@contoso.test', givenName: 'Grace', surname: 'Hopper' });
    expect(assertion.attributes).toMatchObject({
      [CLAIMS.name]: person.email,
      [CLAIMS.objectidentifier]: 'b2c9e5b4-3f0e-4a7c-9d1a-0c6f2e8d7a51',
      [CLAIMS.tenantid]: ENTRA_TENANT_ID,
      [CLAIMS.displayname]: 'Grace Hopper',
      [CLAIMS.entraGroups]: groups,
      [CLAIMS.authnmethodsreferences]: ['http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/password', 'http://schemas.microsoft.com/claims/multipleauthn'],
    });
    expect(await login.requestPending()).toBe(false);
  });

  it('emailAddress NameID, and a sign-in at Entra hours before the response (existing Entra session)', async () => {
    const login = await startVendorLogin({ idpEntityId: entraIssuer(ENTRA_TENANT_ID), attributes: MICROSOFT_CLAIM_MAPPING, nameIdFormat: NAMEID.emailAddress });
    const samlResponse = entraIdResponse({ ...login.target, person, nameIdFormat: 'emailAddress', authnInstantMs: Date.now() - 8 * 3_600_000 });
    const assertion = await login.post(samlResponse);
    expect(assertion).toMatchObject({ nameId: person.email, nameIdFormat: NAMEID.emailAddress, authnContextClassRef: AUTHN_CONTEXT.password });
    expect(mapIdentity(login.connection, assertion)).toEqual({ subject: person.email, email: 'grace.hopper@contoso.test', givenName: 'Grace', surname: 'Hopper' });
    expect(assertion.attributes[CLAIMS.entraGroups]).toBeUndefined();
  });

  it('is refused where the connection asks for a signed Response (Entra signs only the Assertion by default)', async () => {
    const login = await startVendorLogin({ idpEntityId: entraIssuer(ENTRA_TENANT_ID), attributes: MICROSOFT_CLAIM_MAPPING, wantResponseSigned: true });
    await expect(login.post(entraIdResponse({ ...login.target, person, nameIdFormat: 'persistent' }))).rejects.toMatchObject({ code: 'saml.response_unsigned' });
    expect(await login.requestPending()).toBe(true);
  });
});

describe('Okta shaped responses', () => {
  const OKTA_MAPPING = { email: 'email', givenName: 'firstName', surname: 'lastName' };

  it('Response and Assertion signed, emailAddress NameID, unspecified-format attributes', async () => {
    const login = await startVendorLogin({ idpEntityId: oktaIssuer(), attributes: OKTA_MAPPING, wantResponseSigned: true, wantAssertionsSigned: true, nameIdFormat: NAMEID.emailAddress });
    const samlResponse = oktaResponse({ ...login.target, person, groups: ['Everyone', 'Engineering'] });
    const xml = decodeResponse(samlResponse);
    expect(xml.match(/<ds:Signature /g)).toHaveLength(2);
    expect(xml).toContain('PrefixList="xs"');
    expect(xml).toMatch(/^<saml2p:Response [^>]*ID="id\d+"/);

    const assertion = await login.post(samlResponse);
    expect(assertion).toMatchObject({
      nameId: person.email,
      nameIdFormat: NAMEID.emailAddress,
      issuer: oktaIssuer(),
      inResponseTo: login.target.requestId,
      authnContextClassRef: AUTHN_CONTEXT.passwordProtectedTransport,
      attributes: { firstName: 'Grace', lastName: 'Hopper', email: person.email, groups: ['Everyone', 'Engineering'] },
    });
    expect(assertion.assertionId).toMatch(/^id\d+$/);
    expect(mapIdentity(login.connection, assertion)).toEqual({ subject: person.email, email: 'grace.hopper@contoso.test', givenName: 'Grace', surname: 'Hopper' });
    expect(await login.requestPending()).toBe(false);
  });

  it('a single group comes through as a string, not a one-element list', async () => {
    const login = await startVendorLogin({ idpEntityId: oktaIssuer(), attributes: OKTA_MAPPING, wantResponseSigned: true });
    const assertion = await login.post(oktaResponse({ ...login.target, person, groups: ['Everyone'] }));
    expect(assertion.attributes['groups']).toBe('Everyone');
  });
});

describe('AD FS shaped responses', () => {
  const groups = ['Domain Users', 'CONTOSO\\Finance & Accounting', 'VPN <Users>'];

  it('transient NameID, Assertion signed, Consent, Destination and InResponseTo present, Group claims', async () => {
    const login = await startVendorLogin({ idpEntityId: adfsIssuer(), attributes: MICROSOFT_CLAIM_MAPPING, nameIdFormat: NAMEID.transient });
    const samlResponse = adfsResponse({ ...login.target, person, nameIdFormat: 'transient', groups });
    const xml = decodeResponse(samlResponse);
    expect(xml).toContain('Consent="urn:oasis:names:tc:SAML:2.0:consent:unspecified"');
    expect(xml).toContain(`Destination="${login.target.acsUrl}"`);
    expect(xml).toContain(`InResponseTo="${login.target.requestId}"`);

    const assertion = await login.post(samlResponse);
    expect(assertion).toMatchObject({
      nameIdFormat: NAMEID.transient,
      issuer: adfsIssuer(),
      inResponseTo: login.target.requestId,
      authnContextClassRef: AUTHN_CONTEXT.passwordProtectedTransport,
      usedSha1: false,
    });
    expect(assertion.nameId).toMatch(/^_[0-9a-f]{32}$/);
    expect(assertion.attributes).toMatchObject({ [CLAIMS.adfsGroup]: groups, [CLAIMS.upn]: person.email });
    expect(mapIdentity(login.connection, assertion)).toEqual({ subject: assertion.nameId, email: 'grace.hopper@contoso.test', givenName: 'Grace', surname: 'Hopper' });
    expect(await login.requestPending()).toBe(false);
  });

  it('unspecified NameID carrying a DOMAIN\\user account name, and non-ASCII names in the signed claims', async () => {
    const login = await startVendorLogin({ idpEntityId: adfsIssuer(), attributes: MICROSOFT_CLAIM_MAPPING });
    const zoe = { email: 'Zoe.Lukasiewicz@contoso.test', givenName: 'Zoë', surname: 'Łukasiewicz-Öztürk' };
    const assertion = await login.post(adfsResponse({ ...login.target, person: zoe, nameIdFormat: 'unspecified', accountName: 'CONTOSO\\zlukasiewicz' }));
    expect(assertion).toMatchObject({ nameId: 'CONTOSO\\zlukasiewicz', nameIdFormat: NAMEID.unspecified });
    expect(mapIdentity(login.connection, assertion)).toEqual({ subject: 'CONTOSO\\zlukasiewicz', email: 'zoe.lukasiewicz@contoso.test', givenName: 'Zoë', surname: 'Łukasiewicz-Öztürk' });
  });

  it('is refused when the response answers another AuthnRequest', async () => {
    const login = await startVendorLogin({ idpEntityId: adfsIssuer(), attributes: MICROSOFT_CLAIM_MAPPING });
    const other = adfsResponse({ ...login.target, requestId: '_someone-elses-request', person, nameIdFormat: 'transient' });
    await expect(login.post(other)).rejects.toMatchObject({ code: 'saml.in_response_to_mismatch' });
    expect(await login.requestPending()).toBe(true);
  });
});
