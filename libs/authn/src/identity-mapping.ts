import type { ResolvedConnection } from '@broker/config';
import type { AssertedIdentity } from '@broker/identity';
import type { ValidatedAssertion } from '@broker/saml';

const first = (value: string | string[] | undefined): string | undefined => {
  const v = Array.isArray(value) ? value[0] : value;
  const trimmed = v?.trim();
  return trimmed ? trimmed : undefined;
};

const looksLikeEmail = (value: string): boolean => /^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(value);

/**
 * Map a validated assertion to the identity the broker records: NameID is the subject; email,
 * given name and surname come from the attributes the connection names (email falls back to an
 * email-shaped NameID).
 */
export function mapAssertion(tenantId: string, connection: ResolvedConnection, assertion: ValidatedAssertion): AssertedIdentity {
  const names = connection.attributes;
  const email = first(assertion.attributes[names.email]) ?? (looksLikeEmail(assertion.nameId) ? assertion.nameId : undefined);
  return {
    tenantId,
    connectionId: connection.id,
    subject: assertion.nameId,
    email: email?.toLowerCase(),
    givenName: first(assertion.attributes[names.givenName]),
    surname: first(assertion.attributes[names.surname]),
  };
}
