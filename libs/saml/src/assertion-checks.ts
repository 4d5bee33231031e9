import type { ResponsePolicy } from './policy.ts';
import { rejection, type Envelope } from './preflight.ts';
import { attr, childElements, firstChild, NS, text } from './xml.ts';

const BEARER = 'urn:oasis:names:tc:SAML:2.0:cm:bearer';

/** What the checked assertion says beyond the profile: for replay protection and the session. */
export interface CheckedAssertion {
  id: string;
  /** Until when the assertion could be replayed (epoch ms): its latest NotOnOrAfter. */
  validUntilMs: number;
  authnContextClassRef?: string | undefined;
  /** The AuthnStatement's AuthnInstant (epoch ms), when it has a readable one. */
  authnInstantMs?: number | undefined;
  inResponseTo?: string | undefined;
}

const time = (value: string | undefined): number | undefined => {
  if (value === undefined) return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
};

/**
 * The Web SSO profile's checks on the assertion: Issuer, a bearer SubjectConfirmation for our ACS that
 * answers our request and has not expired, Audience, IssueInstant age, AuthnContext. They run on
 * the one assertion of the response (preflight proved there is exactly one; for an encrypted
 * response, the one we decrypted) before its signature is verified (signature.ts), so each problem
 * gets its own code; the caller then verifies the signatures over this same element.
 * A rejection needs no signature; an acceptance is not final until the signature holds.
 * `expectedRequestId` is the AuthnRequest ID for SP-initiated logins. `authenticatedSinceMs`,
 * when the request asked the IdP to authenticate the person again (ForceAuthn): the
 * AuthnInstant must not be older (with the clock skew). Throws SamlRejection.
 */
export function checkAssertion(
  assertion: Element,
  policy: ResponsePolicy,
  envelope: Envelope,
  nowMs: number,
  expectedRequestId: string | undefined,
  authenticatedSinceMs?: number,
): CheckedAssertion {
  const fail = (code: string, message: string, detail: Record<string, unknown> = {}) => rejection(code, message, detail, envelope);
  if (assertion.namespaceURI !== NS.saml || assertion.localName !== 'Assertion') throw fail('saml.malformed', 'the assertion is not a saml:Assertion');
  const id = attr(assertion, 'ID');
  if (!id) throw fail('saml.malformed', 'the assertion has no ID');

  const issuer = text(firstChild(assertion, NS.saml, 'Issuer'));
  if (issuer !== policy.idpEntityId) throw fail('saml.assertion_issuer_mismatch', 'the Assertion Issuer is not the IdP of this connection', { expectedIssuer: policy.idpEntityId, receivedIssuer: issuer || '(none)' });

  const issueInstant = time(attr(assertion, 'IssueInstant'));
  if (issueInstant === undefined) throw fail('saml.malformed', 'the assertion has no valid IssueInstant');
  const clockDifferenceMs = issueInstant - nowMs;
  if (clockDifferenceMs > policy.clockSkewMs) throw fail('saml.not_yet_valid', 'the assertion was issued in the future', { clockDifferenceSeconds: Math.round(clockDifferenceMs / 1000) });
  if (nowMs - issueInstant > policy.maxAssertionAgeMs + policy.clockSkewMs) {
    throw fail('saml.assertion_too_old', 'the assertion is older than the connection accepts', { clockDifferenceSeconds: Math.round(clockDifferenceMs / 1000), maxAgeSeconds: policy.maxAssertionAgeMs / 1000 });
  }

  const subject = firstChild(assertion, NS.saml, 'Subject');
  if (!subject || !text(firstChild(subject, NS.saml, 'NameID'))) throw fail('saml.nameid_missing', 'the assertion has no NameID');
  const confirmations = childElements(subject, NS.saml, 'SubjectConfirmation');
  if (confirmations.length === 0) throw fail('saml.subject_confirmation_missing', 'the assertion has no SubjectConfirmation');
  const bearer = confirmations.filter((c) => attr(c, 'Method') === BEARER);
  if (bearer.length === 0) throw fail('saml.subject_confirmation_not_bearer', 'no bearer SubjectConfirmation (holder-of-key and sender-vouches are not supported)', { methods: confirmations.map((c) => attr(c, 'Method')) });
  // Web SSO profile: at least one bearer confirmation must be for us and still valid.
  let confirmationExpiry: number | undefined;
  let lastFailure: ReturnType<typeof fail> | undefined;
  let inResponseTo: string | undefined;
  for (const confirmation of bearer) {
    const data = firstChild(confirmation, NS.saml, 'SubjectConfirmationData');
    const recipient = attr(data, 'Recipient');
    const notOnOrAfter = time(attr(data, 'NotOnOrAfter'));
    if (recipient === undefined) lastFailure = fail('saml.recipient_missing', 'the bearer SubjectConfirmationData has no Recipient', { expectedRecipient: policy.acsUrl });
    else if (recipient !== policy.acsUrl) lastFailure = fail('saml.recipient_mismatch', 'the assertion is meant for another endpoint', { expectedRecipient: policy.acsUrl, receivedRecipient: recipient });
    else if (notOnOrAfter === undefined) lastFailure = fail('saml.subject_confirmation_expiry_missing', 'the bearer SubjectConfirmationData has no NotOnOrAfter');
    else if (nowMs - policy.clockSkewMs >= notOnOrAfter) lastFailure = fail('saml.subject_confirmation_expired', 'the bearer SubjectConfirmationData has expired', { clockDifferenceSeconds: Math.round((notOnOrAfter - nowMs) / 1000) });
    else if (attr(data, 'NotBefore') !== undefined) lastFailure = fail('saml.subject_confirmation_invalid', 'a bearer SubjectConfirmationData must not carry NotBefore');
    // Web SSO profile: in answer to an AuthnRequest, InResponseTo must name it here too.
    else if (expectedRequestId === undefined && attr(data, 'InResponseTo') !== undefined) lastFailure = fail('saml.in_response_to_unexpected', 'an unsolicited assertion names a request');
    else if (expectedRequestId !== undefined && attr(data, 'InResponseTo') === undefined) lastFailure = fail('saml.in_response_to_missing', 'the SubjectConfirmationData does not say which request it answers');
    else if (expectedRequestId !== undefined && attr(data, 'InResponseTo') !== expectedRequestId) {
      lastFailure = fail('saml.in_response_to_mismatch', 'the SubjectConfirmationData answers another request', { expectedInResponseTo: expectedRequestId, receivedInResponseTo: attr(data, 'InResponseTo') });
    } else {
      confirmationExpiry = notOnOrAfter;
      inResponseTo = attr(data, 'InResponseTo');
      break;
    }
  }
  if (confirmationExpiry === undefined) throw lastFailure ?? fail('saml.subject_confirmation_missing', 'no usable bearer SubjectConfirmation');
  if (inResponseTo !== undefined && envelope.inResponseTo !== undefined && inResponseTo !== envelope.inResponseTo) {
    throw fail('saml.in_response_to_mismatch', 'the SubjectConfirmationData and the Response answer different requests');
  }

  const conditions = firstChild(assertion, NS.saml, 'Conditions');
  if (!conditions) throw fail('saml.conditions_missing', 'the assertion has no Conditions (and so no Audience)');
  const audiences = childElements(conditions, NS.saml, 'AudienceRestriction').map((r) => childElements(r, NS.saml, 'Audience').map((a) => text(a)));
  if (audiences.length === 0) throw fail('saml.audience_missing', 'the assertion has no AudienceRestriction', { expectedAudience: policy.spEntityId });
  // Every AudienceRestriction must admit us (they are ANDed), by exact match: no prefixes.
  if (!audiences.every((list) => list.includes(policy.spEntityId))) {
    throw fail('saml.audience_mismatch', 'the assertion is meant for another service provider', { expectedAudience: policy.spEntityId, receivedAudience: audiences.flat() });
  }
  const conditionsNotBefore = time(attr(conditions, 'NotBefore'));
  const conditionsNotOnOrAfter = time(attr(conditions, 'NotOnOrAfter'));
  if (conditionsNotBefore !== undefined && nowMs + policy.clockSkewMs < conditionsNotBefore) {
    throw fail('saml.not_yet_valid', 'the assertion is not valid yet', { clockDifferenceSeconds: Math.round((conditionsNotBefore - nowMs) / 1000) });
  }
  if (conditionsNotOnOrAfter !== undefined && nowMs - policy.clockSkewMs >= conditionsNotOnOrAfter) {
    throw fail('saml.expired', 'the assertion has expired', { clockDifferenceSeconds: Math.round((conditionsNotOnOrAfter - nowMs) / 1000) });
  }

  const authnStatement = firstChild(assertion, NS.saml, 'AuthnStatement');
  const classRef = authnStatement && text(firstChild(firstChild(authnStatement, NS.saml, 'AuthnContext') ?? authnStatement, NS.saml, 'AuthnContextClassRef'));
  if (policy.acceptedAuthnContexts && !(classRef && policy.acceptedAuthnContexts.includes(classRef))) {
    throw fail('saml.authn_context_insufficient', 'the IdP did not authenticate the person the way the connection requires', { expectedAuthnContext: policy.acceptedAuthnContexts, receivedAuthnContext: classRef || '(none)' });
  }
  const authnInstant = attr(authnStatement, 'AuthnInstant');
  const authnInstantMs = time(authnInstant);
  if (authenticatedSinceMs !== undefined && !(authnInstantMs !== undefined && authnInstantMs >= authenticatedSinceMs - policy.clockSkewMs)) {
    throw fail('saml.authn_not_fresh', 'the IdP did not authenticate the person again although the request asked it to (ForceAuthn)', {
      authnInstant,
      requestedAt: new Date(authenticatedSinceMs).toISOString(),
    });
  }

  return {
    id,
    // Until it could no longer be accepted: past every bearer confirmation's expiry (a later one
    // than the confirmation used may exist), the Conditions' and the maximum age.
    validUntilMs: Math.max(latestBearerExpiry(bearer), confirmationExpiry, conditionsNotOnOrAfter ?? 0, issueInstant + policy.maxAssertionAgeMs) + policy.clockSkewMs,
    authnContextClassRef: classRef || undefined,
    authnInstantMs,
    inResponseTo,
  };
}

/** The latest NotOnOrAfter of the bearer SubjectConfirmations (0 when none has one). */
function latestBearerExpiry(bearer: Element[]): number {
  let latest = 0;
  for (const confirmation of bearer) latest = Math.max(latest, time(attr(firstChild(confirmation, NS.saml, 'SubjectConfirmationData'), 'NotOnOrAfter')) ?? 0);
  return latest;
}

/** What the broker reads from a verified assertion: the subject, the session and the attributes. */
export interface AssertionContents {
  nameId: string;
  nameIdFormat?: string | undefined;
  issuer: string;
  sessionIndex?: string | undefined;
  /** Attribute name to its value, or its values when there are several. */
  attributes: Record<string, string | string[]>;
}

/**
 * Read the subject and attributes of an assertion that passed checkAssertion and whose signature
 * (or its Response's) was verified on this very element. Attribute values are the text of each
 * AttributeValue; values that are empty or hold elements are skipped; an attribute named twice
 * keeps its last occurrence (as node-saml's profile did, so mappings keep their meaning).
 */
export function readAssertion(assertion: Element): AssertionContents {
  const subject = firstChild(assertion, NS.saml, 'Subject');
  const nameId = subject && firstChild(subject, NS.saml, 'NameID');
  // No prototype: an attribute the IdP names __proto__ is an attribute like any other.
  const attributes: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>;
  for (const statement of childElements(assertion, NS.saml, 'AttributeStatement')) {
    for (const attribute of childElements(statement, NS.saml, 'Attribute')) {
      const name = attr(attribute, 'Name');
      const valueElements = childElements(attribute, NS.saml, 'AttributeValue');
      if (name === undefined || valueElements.length === 0) continue;
      const values = valueElements.map(simpleValue).filter((v): v is string => v !== undefined);
      if (valueElements.length > 1) attributes[name] = values;
      else if (values[0] !== undefined) attributes[name] = values[0];
      else delete attributes[name];
    }
  }
  return {
    nameId: nameId?.textContent ?? '',
    nameIdFormat: attr(nameId, 'Format'),
    issuer: text(firstChild(assertion, NS.saml, 'Issuer')),
    sessionIndex: attr(firstChild(assertion, NS.saml, 'AuthnStatement'), 'SessionIndex'),
    attributes,
  };
}

/** The text of an AttributeValue without element children; undefined when blank or structured. */
function simpleValue(value: Element): string | undefined {
  if (childElements(value).length > 0) return undefined;
  const content = value.textContent ?? '';
  return content.trim() === '' ? undefined : content;
}
