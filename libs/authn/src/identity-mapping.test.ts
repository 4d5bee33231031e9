import { describe, expect, it } from 'vitest';
import { CONNECTION_DEFAULTS, type ResolvedConnection } from '@broker/config';
import type { ValidatedAssertion } from '@broker/saml';
import { authenticationContext, mapAssertion, MAX_VALUE_LENGTH } from './identity-mapping.ts';

const connection = (attributes: ResolvedConnection['attributes'] = { email: 'email', givenName: 'givenName', surname: 'surname' }): ResolvedConnection => ({
  id: 'acme-dev-idp',
  idp: { certificates: [] },
  wantAssertionsSigned: true,
  wantResponseSigned: true,
  nameIdFormat: 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress',
  attributes,
  ...CONNECTION_DEFAULTS,
});

const assertion = (nameId: string, attributes: ValidatedAssertion['attributes'] = {}): ValidatedAssertion => ({ assertionId: '_a1', nameId, issuer: 'urn:idp', usedSha1: false, attributes });

describe('mapAssertion', () => {
  it('takes the subject from the NameID and the rest from the mapped attributes', () => {
    const identity = mapAssertion('acme', connection(), assertion('00u1abc', { email: 'Alice@ACME.test', givenName: ' Alice ', surname: 'Anderson' }));
    expect(identity).toEqual({
      tenantId: 'acme',
      connectionId: 'acme-dev-idp',
      userIdType: 'federationId',
      userId: '00u1abc',
      username: undefined,
      email: 'alice@acme.test',
      givenName: 'Alice',
      surname: 'Anderson',
      accessProfile: undefined,
      accessProfileMapped: false,
    });
  });

  it('reads the access profile only when the connection maps one, and says so', () => {
    const mapsRole = connection({ email: 'email', givenName: 'givenName', surname: 'surname', accessProfile: 'role' });
    expect(mapAssertion('acme', mapsRole, assertion('x', {}))).toMatchObject({ accessProfile: undefined, accessProfileMapped: true });
    expect(mapAssertion('acme', mapsRole, assertion('x', { role: 'admin' }))).toMatchObject({ accessProfile: 'admin', accessProfileMapped: true });
    expect(mapAssertion('acme', connection(), assertion('x', { role: 'admin' }))).toMatchObject({ accessProfile: undefined, accessProfileMapped: false });
  });

  it('treats a value over MAX_VALUE_LENGTH characters as not sent (it would go into every token)', () => {
    const long = 'A'.repeat(MAX_VALUE_LENGTH + 1);
    const identity = mapAssertion('acme', connection({ email: 'email', givenName: 'givenName', surname: 'surname', accessProfile: 'role' }), assertion('x', { givenName: long, email: `${long}@acme.test`, role: long }));
    expect(identity).toMatchObject({ givenName: undefined, email: undefined, accessProfile: undefined });
    expect(mapAssertion('acme', connection(), assertion('x', { givenName: 'A'.repeat(MAX_VALUE_LENGTH) }))?.givenName).toHaveLength(MAX_VALUE_LENGTH);
  });

  it('uses the attribute names the connection configures', () => {
    const okta = connection({ email: 'urn:oid:0.9.2342.19200300.100.1.3', givenName: 'firstName', surname: 'lastName' });
    const identity = mapAssertion('acme', okta, assertion('00u1abc', { 'urn:oid:0.9.2342.19200300.100.1.3': 'a@acme.test', firstName: 'A', lastName: 'B', email: 'ignored@acme.test' }));
    expect(identity).toMatchObject({ email: 'a@acme.test', givenName: 'A', surname: 'B' });
  });

  it('takes the first value of a multi-valued attribute and ignores blank ones', () => {
    const identity = mapAssertion('acme', connection(), assertion('x', { email: ['first@acme.test', 'second@acme.test'], givenName: '   ', surname: [] }));
    expect(identity).toMatchObject({ email: 'first@acme.test', givenName: undefined, surname: undefined });
  });

  it('falls back to an email-shaped NameID for the email, and keeps the NameID as is for the subject', () => {
    expect(mapAssertion('acme', connection(), assertion('Alice@Acme.Test'))).toMatchObject({ userId: 'Alice@Acme.Test', email: 'alice@acme.test' });
    expect(mapAssertion('acme', connection(), assertion('00u1abc'))?.email).toBeUndefined();
    expect(mapAssertion('acme', connection(), assertion('not an@email'))?.email).toBeUndefined();
  });

  it('reads the user ID from an attribute, as a username, when the connection says so', () => {
    const byAttribute = { ...connection(), userIdLocation: 'attribute' as const, userIdAttribute: 'uid', userIdType: 'username' as const };
    expect(mapAssertion('acme', byAttribute, assertion('transient-123', { uid: 'alice' }))).toMatchObject({ userIdType: 'username', userId: 'alice' });
    // The attribute is missing: no user ID, so no login.
    expect(mapAssertion('acme', byAttribute, assertion('transient-123'))).toBeUndefined();
  });

  it('maps the access profile attribute when configured', () => {
    const withProfile = connection({ email: 'email', givenName: 'givenName', surname: 'surname', accessProfile: 'role' });
    expect(mapAssertion('acme', withProfile, assertion('a', { role: 'admin' }))?.accessProfile).toBe('admin');
  });
});

describe('authenticationContext', () => {
  it('gives acr as the class reference and amr per RFC 8176', () => {
    expect(authenticationContext('urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport')).toEqual({ acr: 'urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport', amr: ['pwd'] });
    expect(authenticationContext('http://schemas.microsoft.com/claims/multipleauthn').amr).toEqual(['mfa']);
    expect(authenticationContext('urn:example:unknown')).toEqual({ acr: 'urn:example:unknown', amr: [] });
    expect(authenticationContext(undefined)).toEqual({ acr: undefined, amr: [] });
  });
});
