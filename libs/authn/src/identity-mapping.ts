import type { ResolvedConnection } from '@broker/config';
import type { AssertedIdentity } from '@broker/identity';
import type { ValidatedAssertion } from '@broker/saml';

const first = (value: string | string[] | undefined): string | undefined => {
  const v = Array.isArray(value) ? value[0] : value;
  const trimmed = v?.trim();
  return trimmed ? trimmed : undefined;
};

const looksLikeEmail = (value: string): boolean => /^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(value);

/** The attribute value for a mapped name, when the connection maps it. */
const attribute = (assertion: ValidatedAssertion, name: string | undefined): string | undefined => (name === undefined ? undefined : first(assertion.attributes[name]));

/**
 * The longest user ID and the longest other value the broker keeps (characters). A longer user ID
 * refuses the login; a longer email, name or access profile counts as not sent, so the user
 * record and the ID token stay small (an 80 KB name would go into every token).
 */
export const MAX_USER_ID_LENGTH = 256;
export const MAX_VALUE_LENGTH = 1024;
const bounded = (value: string | undefined): string | undefined => (value !== undefined && value.length <= MAX_VALUE_LENGTH ? value : undefined);

/**
 * Map a validated assertion to the identity the broker records, by the connection's settings:
 * the user ID from the NameID or an attribute (User ID location), typed as a username or a
 * federation id (User ID type); email, names and access profile from the mapped attributes
 * (email falls back to an email-shaped NameID). Undefined user ID: the assertion lacks it.
 */
export function mapAssertion(tenantId: string, connection: ResolvedConnection, assertion: ValidatedAssertion): AssertedIdentity | undefined {
  const names = connection.attributes;
  const userId = connection.userIdLocation === 'attribute' ? attribute(assertion, connection.userIdAttribute) : assertion.nameId.trim() || undefined;
  if (userId === undefined) return undefined;
  const email = bounded(attribute(assertion, names.email) ?? (looksLikeEmail(assertion.nameId) ? assertion.nameId : undefined));
  return {
    tenantId,
    connectionId: connection.id,
    userIdType: connection.userIdType,
    userId,
    username: bounded(attribute(assertion, names.username)),
    email: email?.toLowerCase(),
    givenName: bounded(attribute(assertion, names.givenName)),
    surname: bounded(attribute(assertion, names.surname)),
    accessProfile: bounded(attribute(assertion, names.accessProfile)),
    accessProfileMapped: names.accessProfile !== undefined,
  };
}

/** Authentication methods (RFC 8176) implied by a SAML AuthnContextClassRef. */
const AMR_BY_CONTEXT: Record<string, string[]> = {
  'urn:oasis:names:tc:SAML:2.0:ac:classes:Password': ['pwd'],
  'urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport': ['pwd'],
  'urn:oasis:names:tc:SAML:2.0:ac:classes:TimeSyncToken': ['otp'],
  'urn:oasis:names:tc:SAML:2.0:ac:classes:Smartcard': ['sc'],
  'urn:oasis:names:tc:SAML:2.0:ac:classes:SmartcardPKI': ['sc'],
  'http://schemas.microsoft.com/claims/multipleauthn': ['mfa'],
  'https://refeds.org/profile/mfa': ['mfa'],
};

/** acr (the class reference itself) and amr for the ID token. */
export function authenticationContext(classRef: string | undefined): { acr?: string | undefined; amr: string[] } {
  return { acr: classRef, amr: classRef === undefined ? [] : (AMR_BY_CONTEXT[classRef] ?? []) };
}
