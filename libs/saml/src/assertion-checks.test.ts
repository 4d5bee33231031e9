import { describe, expect, it } from 'vitest';
import { checkAssertion } from './assertion-checks.ts';
import { resolveIdpSettings } from './connection-settings.ts';
import { BROKER_ISSUER, interopConnection } from './interop/support.ts';
import { responsePolicy } from './policy.ts';
import type { Envelope } from './preflight.ts';
import { parseXml } from './xml.ts';

const NOW = Date.parse('2026-11-23T12:00:00Z');
const at = (offsetSeconds: number) => new Date(NOW + offsetSeconds * 1000).toISOString();

const connection = interopConnection({ idpEntityId: 'https://idp.test' });
const policy = responsePolicy(BROKER_ISSUER, connection, resolveIdpSettings(connection));

/** An IdP-initiated assertion with these bearer confirmations' NotOnOrAfter (seconds from now). */
function assertion(confirmations: number[], conditionsNotOnOrAfter?: number): Element {
  const bearer = confirmations
    .map((expiry) => `<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData Recipient="${policy.acsUrl}" NotOnOrAfter="${at(expiry)}"/></saml:SubjectConfirmation>`)
    .join('');
  const conditions = conditionsNotOnOrAfter === undefined ? '<saml:Conditions>' : `<saml:Conditions NotOnOrAfter="${at(conditionsNotOnOrAfter)}">`;
  const xml = `<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_a" Version="2.0" IssueInstant="${at(-10)}">
    <saml:Issuer>${policy.idpEntityId}</saml:Issuer>
    <saml:Subject><saml:NameID>alice@acme.test</saml:NameID>${bearer}</saml:Subject>
    ${conditions}<saml:AudienceRestriction><saml:Audience>${policy.spEntityId}</saml:Audience></saml:AudienceRestriction></saml:Conditions>
  </saml:Assertion>`;
  const root = parseXml(xml).documentElement;
  if (!root) throw new Error('no assertion');
  return root;
}

const envelope = { xml: '', keyInfoFingerprints: [], keyInfoBySignature: [], responseSigned: false, assertionSigned: true, encrypted: false, usedSha1: false } as unknown as Envelope;

describe('checkAssertion: how long the replay claim must last', () => {
  it('until the latest bearer confirmation expires, not the first usable one (a later one keeps the assertion acceptable)', () => {
    const checked = checkAssertion(assertion([60, 3_600]), policy, envelope, NOW, undefined);
    // Accepted through the first confirmation; the second keeps it acceptable for an hour.
    expect(checked.validUntilMs).toBe(NOW + 3_600_000 + policy.clockSkewMs);
    // An hour later the first confirmation has expired, and the second still admits it.
    expect(() => checkAssertion(assertion([60, 3_600]), { ...policy, maxAssertionAgeMs: 7_200_000 }, envelope, NOW + 1_800_000, undefined)).not.toThrow();
  });

  it('at least until the assertion is too old, whatever short expiries it names', () => {
    const checked = checkAssertion(assertion([30], 30), policy, envelope, NOW, undefined);
    expect(checked.validUntilMs).toBe(NOW - 10_000 + policy.maxAssertionAgeMs + policy.clockSkewMs);
  });

  it('until the Conditions expire when they outlast the rest', () => {
    const checked = checkAssertion(assertion([60], 900), policy, envelope, NOW, undefined);
    expect(checked.validUntilMs).toBe(NOW + 900_000 + policy.clockSkewMs);
  });
});
