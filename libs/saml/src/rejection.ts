/**
 * A SAML response or request the SP refuses. `code` is stable (`saml.*`) for logs, metrics and
 * diagnostics; `detail` helps a support engineer and is never shown to the person.
 */
export class SamlRejection extends Error {
  override readonly name = 'SamlRejection';
  readonly code: string;
  readonly detail: Record<string, unknown>;

  constructor(code: string, message: string, detail: Record<string, unknown> = {}) {
    super(message);
    this.code = code;
    this.detail = detail;
  }
}

/** Most specific first: node-saml reports its checks as messages; give each a stable code. */
const LIBRARY_MESSAGES: ReadonlyArray<readonly [RegExp, string]> = [
  [/InResponseTo is missing/i, 'saml.in_response_to_missing'],
  [/InResponseTo is not valid|InResponseTo does not match/i, 'saml.in_response_to_unknown'],
  [/audience/i, 'saml.audience_mismatch'],
  [/unknown saml issuer/i, 'saml.issuer_mismatch'],
  [/signature/i, 'saml.invalid_signature'],
  [/not yet valid/i, 'saml.not_yet_valid'],
  [/too old/i, 'saml.assertion_too_old'],
  [/NotBefore|NotOnOrAfter|expired/i, 'saml.expired'],
  [/decrypt|encrypt|oaep/i, 'saml.decryption_failed'],
  [/subject confirmation/i, 'saml.subject_confirmation_invalid'],
  [/SubjectConfirmation/i, 'saml.subject_confirmation_invalid'],
  [/status|Responder|Requester/i, 'saml.idp_status_error'],
  [/xml|parse|invalid top level|document/i, 'saml.malformed'],
];

/** Turn whatever node-saml or passport threw into a SamlRejection. */
export function toSamlRejection(error: unknown): SamlRejection {
  if (error instanceof SamlRejection) return error;
  const message = error instanceof Error ? error.message : String(error);
  const code = LIBRARY_MESSAGES.find(([pattern]) => pattern.test(message))?.[1] ?? 'saml.invalid_response';
  return new SamlRejection(code, message, { reason: message });
}
