/**
 * Every `saml.*` code the broker emits, explained for the administrator who set the connection
 * up: what went wrong (`problem`) and what to change where (`fix`: in the IdP, or in our
 * connection configuration). Grouped by the misconfigurations people know from SSO set-up
 * guides: entity ID mismatch, ACS URL wrong, certificate expired or rotated, missing email
 * claim, tenant mismatch, and so on. A unit test checks that each code in the sources has an
 * entry here.
 *
 * Wording: "the IdP" is the customer's identity provider (Entra ID, Okta, ...); "our connection
 * configuration" is the connection's entry under tenants[].connections[] in the broker's
 * configuration file (docs/configuration.md). Field names in the detail of a diagnostics entry
 * (expectedAudience, receivedIssuer, ...) are named where they show the values to compare.
 */

export type MisconfigurationCategory =
  | 'entity_id_mismatch'
  | 'acs_url_wrong'
  | 'certificate'
  | 'missing_claim'
  | 'tenant_mismatch'
  | 'clock_skew'
  | 'replay_or_stale_login'
  | 'signing_requirements'
  | 'algorithm_policy'
  | 'encryption'
  | 'authn_context'
  | 'idp_error'
  | 'idp_profile'
  | 'malformed_response'
  | 'internal';

/** Titles of the categories, in the words of SSO set-up guides. */
export const CATEGORY_TITLES: Readonly<Record<MisconfigurationCategory, string>> = {
  entity_id_mismatch: 'Entity ID mismatch',
  acs_url_wrong: 'ACS URL wrong',
  certificate: 'Certificate expired or rotated',
  missing_claim: 'Missing email claim (or user identifier)',
  tenant_mismatch: 'Tenant mismatch',
  clock_skew: 'Clock skew or expired assertion',
  replay_or_stale_login: 'Replayed or stale sign-in',
  signing_requirements: 'Signing requirements',
  algorithm_policy: 'Algorithm policy',
  encryption: 'Assertion encryption',
  authn_context: 'Authentication method (MFA) requirement',
  idp_error: 'The IdP reported an error',
  idp_profile: 'Response not in the SAML Web Browser SSO profile',
  malformed_response: 'Malformed or unexpected response',
  internal: 'Broker error',
};

export interface Explanation {
  category: MisconfigurationCategory;
  /** What went wrong, in plain words. */
  problem: string;
  /** What the administrator changes, and where. */
  fix: string;
}

const SP_ENTITY_ID = 'our SP entity ID ({issuer}/saml/{connection id}/metadata, shown as expectedAudience)';
const ACS_URL = 'our ACS URL ({issuer}/saml/{connection id}/acs)';
const CERTIFICATE_FIX =
  "Get the IdP's current signing certificate (Entra ID: Single sign-on > SAML Signing Certificate > Certificate (Base64) or the App Federation Metadata URL) " +
  'and add it to idp.certificates in our connection configuration, or re-import the metadata (idp.metadataUrl is fetched again at restart; replace idp.metadataFile or idp.metadataXml), then restart the broker. ' +
  'Keep the old certificate pinned until the IdP has switched. Compare receivedFingerprints with configuredFingerprints and with the certificates listed in this report.';
const START_AGAIN = 'Usually nothing to change: the person starts the sign-in again from the application.';
const MALFORMED_FIX =
  'This is not what an IdP sends: the response was altered on the way (a proxy or browser extension) or did not come from the IdP. ' +
  'If it happens with every sign-in from your IdP, send support the reference from the error page and the time.';

export const SAML_MISCONFIGURATIONS: Readonly<Record<string, Explanation>> = {
  // --- Entity ID mismatch -------------------------------------------------------------------
  'saml.audience_mismatch': {
    category: 'entity_id_mismatch',
    problem: 'The assertion is meant for another service provider: its Audience (receivedAudience) is not our SP entity ID (expectedAudience).',
    fix: `In the IdP, set the application's Identifier (Entity ID) to exactly ${SP_ENTITY_ID}: same scheme, host, port and path, no trailing slash. Importing our SP metadata ({issuer}/saml/{connection id}/metadata) into the IdP sets it for you.`,
  },
  'saml.audience_missing': {
    category: 'entity_id_mismatch',
    problem: 'The assertion does not say which service provider it is for (it has no AudienceRestriction).',
    fix: `In the IdP, set the application's Identifier (Entity ID) to ${SP_ENTITY_ID}; IdPs put it in the Audience once it is set.`,
  },
  'saml.conditions_missing': {
    category: 'entity_id_mismatch',
    problem: 'The assertion has no Conditions, so it names no Audience and no validity period.',
    fix: `In the IdP, configure the application as a SAML 2.0 application with the Identifier (Entity ID) ${SP_ENTITY_ID}.`,
  },
  'saml.issuer_mismatch': {
    category: 'entity_id_mismatch',
    problem: "The response comes from another IdP entity ID (receivedIssuer) than the one our connection expects (expectedIssuer).",
    fix: "If the IdP's entity ID is right, set idp.entityId in our connection configuration to it (or re-import the IdP metadata). If the connection points at the wrong IdP application or directory, fix that instead: in Entra ID the issuer is https://sts.windows.net/{tenant id}/ of the directory that holds the application.",
  },
  'saml.assertion_issuer_mismatch': {
    category: 'entity_id_mismatch',
    problem: 'The assertion was issued by another IdP entity ID (receivedIssuer) than the one our connection expects (expectedIssuer).',
    fix: 'Set idp.entityId in our connection configuration to the IdP\'s entity ID (or re-import the IdP metadata), or point the connection at the right IdP application.',
  },

  // --- ACS URL wrong --------------------------------------------------------------------------
  'saml.destination_mismatch': {
    category: 'acs_url_wrong',
    problem: 'The response is addressed to another endpoint: its Destination (receivedDestination) is not our ACS URL (expectedDestination).',
    fix: `In the IdP, set the Reply URL (Assertion Consumer Service URL) to exactly ${ACS_URL}. Another host, http instead of https, a port, or another connection id in the path all count as different.`,
  },
  'saml.destination_missing': {
    category: 'acs_url_wrong',
    problem: 'The response is signed but does not name its Destination, so it could have been meant for any service provider.',
    fix: `In the IdP, set the Reply URL (ACS URL) to ${ACS_URL}; the IdP then puts it in the response's Destination.`,
  },
  'saml.recipient_mismatch': {
    category: 'acs_url_wrong',
    problem: "The assertion is meant for another endpoint: its SubjectConfirmation Recipient (receivedRecipient) is not our ACS URL (expectedRecipient).",
    fix: `In the IdP, set the Reply URL (ACS URL) to exactly ${ACS_URL}.`,
  },
  'saml.recipient_missing': {
    category: 'acs_url_wrong',
    problem: 'The assertion does not name the endpoint it is for (its bearer SubjectConfirmationData has no Recipient).',
    fix: `In the IdP, set the Reply URL (ACS URL) to ${ACS_URL}; the IdP then names it as the Recipient.`,
  },
  'saml.unknown_connection': {
    category: 'acs_url_wrong',
    problem: 'A response or sign-in link names a connection id the broker does not know.',
    fix: `In the IdP, check the Reply URL (ACS URL): it must be ${ACS_URL}, with the id of a connection in our configuration.`,
  },

  // --- Certificate expired or rotated --------------------------------------------------------
  'saml.certificate_untrusted': {
    category: 'certificate',
    problem: 'The response was signed with a certificate our connection does not trust (receivedFingerprints is not among configuredFingerprints). Usually the IdP rotated or renewed its signing certificate; otherwise the response comes from another IdP application.',
    fix: CERTIFICATE_FIX,
  },
  'saml.invalid_signature': {
    category: 'certificate',
    problem: 'The signature does not verify with the certificates our connection trusts: the IdP signs with a key whose certificate is not pinned (rotated or expired certificate), or the response was changed after it was signed.',
    fix: `${CERTIFICATE_FIX} If the fingerprints match, the response was altered on the way: send support the reference from the error page.`,
  },

  // --- Missing email claim (or user identifier) ----------------------------------------------
  'saml.email_missing': {
    category: 'missing_claim',
    problem: 'The person signed in, but the assertion carried no email address in the attribute our connection reads (attributes.email) and the NameID is not an email address, so the user has no email.',
    fix: 'In the IdP, send the email address as a claim (Entra ID: Attributes & Claims > emailaddress = user.mail), or set attributes.email in our connection configuration to the attribute name the IdP sends (Entra ID: http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress).',
  },
  'saml.nameid_missing': {
    category: 'missing_claim',
    problem: 'The assertion does not name the person (it has no NameID).',
    fix: 'In the IdP, set the Unique User Identifier (Name ID) claim, for example user.userprincipalname or user.mail in Entra ID, with the format our connection requests (nameIdFormat).',
  },

  // --- Tenant mismatch -------------------------------------------------------------------------
  'saml.relay_state_mismatch': {
    category: 'tenant_mismatch',
    problem: "The response arrived at the ACS URL of another connection than the one the sign-in was started for: the IdP application is set up with another tenant's or connection's Reply URL.",
    fix: `In the IdP, set the Reply URL (ACS URL) to ${ACS_URL} of the connection the application belongs to: each tenant's connection has its own. Check that the IdP application is the one configured for this tenant.`,
  },

  // --- Clock skew or expired assertion --------------------------------------------------------
  'saml.not_yet_valid': {
    category: 'clock_skew',
    problem: "The assertion is only valid from a time in the future: the IdP's clock and ours differ (clockDifferenceSeconds).",
    fix: 'Correct the clock of the IdP server or of the broker hosts (NTP). If a small lasting difference is expected, raise security.clockSkewSeconds (at most 300) in our connection configuration.',
  },
  'saml.expired': {
    category: 'clock_skew',
    problem: 'The assertion had already expired (NotOnOrAfter) when it arrived: the sign-in took too long, the response was posted again later, or the clocks differ (clockDifferenceSeconds).',
    fix: `${START_AGAIN} If it happens every time, correct the clocks (NTP) or raise security.clockSkewSeconds in our connection configuration.`,
  },
  'saml.assertion_too_old': {
    category: 'clock_skew',
    problem: 'The assertion was issued longer ago than our connection accepts (maxAgeSeconds), or the clocks differ (clockDifferenceSeconds).',
    fix: `${START_AGAIN} If it happens every time, correct the clocks (NTP); raise security.maxAssertionAgeSeconds in our connection configuration only for an IdP known to be slow.`,
  },
  'saml.subject_confirmation_expired': {
    category: 'clock_skew',
    problem: 'The bearer confirmation of the assertion had expired when it arrived (clockDifferenceSeconds says by how much).',
    fix: `${START_AGAIN} If it happens every time, correct the clocks (NTP) or raise security.clockSkewSeconds in our connection configuration.`,
  },

  // --- Replayed or stale sign-in -----------------------------------------------------------------
  'saml.replay': {
    category: 'replay_or_stale_login',
    problem: 'This assertion (assertionId) was already used to sign in: the browser posted it twice (back button, reload) or someone replayed it.',
    fix: `${START_AGAIN} If it repeats, look for a proxy or browser extension that re-posts the response.`,
  },
  'saml.in_response_to_reused': {
    category: 'replay_or_stale_login',
    problem: 'The sign-in this response answers was already completed.',
    fix: START_AGAIN,
  },
  'saml.in_response_to_unknown': {
    category: 'replay_or_stale_login',
    problem: 'The response answers a sign-in request the broker does not know, or one that expired.',
    fix: `${START_AGAIN} If people regularly take longer at the IdP than ttl.interaction (default 10 minutes), raise it in the configuration.`,
  },
  'saml.in_response_to_mismatch': {
    category: 'replay_or_stale_login',
    problem: 'The response answers another sign-in request than the one this browser started (two sign-ins in parallel tabs, or an old response).',
    fix: `${START_AGAIN} Sign in in one tab at a time.`,
  },
  'saml.in_response_to_missing': {
    category: 'replay_or_stale_login',
    problem: 'The response does not say which sign-in request it answers (no InResponseTo): the IdP sent it as an IdP-initiated sign-in.',
    fix: "Start the sign-in from the application. In the IdP, set the application's Sign on URL to the application's login page, so its tile in the IdP portal starts a sign-in the broker expects.",
  },
  'saml.in_response_to_unexpected': {
    category: 'replay_or_stale_login',
    problem: 'A response without a matching sign-in request names a request id.',
    fix: START_AGAIN,
  },
  'saml.unsolicited': {
    category: 'replay_or_stale_login',
    problem: 'An IdP-initiated sign-in (started from the IdP portal or its "Test" button); this connection accepts only sign-ins started from the application.',
    fix: "Start the sign-in from the application. In the IdP, set the application's Sign on URL to the application's login page.",
  },
  'saml.idp_initiated_no_target': {
    category: 'replay_or_stale_login',
    problem: 'An IdP-initiated sign-in arrived, but neither its RelayState nor the connection names an application (a client with a login-initiation URI allowed for this tenant) to send the person to.',
    fix: "Set the connection's idpInitiated.relayState to the client id of the application, or set the IdP application's Relay State to that client id; the client needs an initiateLoginUri.",
  },
  'saml.user_not_provisioned': {
    category: 'tenant_mismatch',
    problem: 'The IdP signed the person in, but Create Users is off for this connection and no user with this user ID exists in the tenant.',
    fix: 'Create the user in the broker (or turn Create Users on for the connection), and check the User ID type and location match what the IdP sends.',
  },
  'saml.authn_not_fresh': {
    category: 'replay_or_stale_login',
    problem: 'The sign-in asked the IdP to authenticate the person again (ForceAuthn: the application asked for prompt=login or max_age, or the connection sets authnRequest.forceAuthn), but the assertion says the person authenticated before the request (authnInstant, requestedAt): the IdP answered from its existing session.',
    fix: 'Make the IdP honour ForceAuthn (most do; some need it enabled for the application). Check the clocks (NTP) if authnInstant is only slightly earlier than requestedAt.',
  },
  'saml.nameid_transient': {
    category: 'missing_claim',
    problem: 'The connection reads the user ID from the NameID, but the IdP sent a transient NameID (nameIdFormat): a new random value at every sign-in, so the same person would become a new user each time.',
    fix: "In the IdP, send a persistent NameID (or the email / UPN), or set the connection's userIdLocation to attribute with the attribute that holds a stable user ID.",
  },
  'saml.user_id_too_long': {
    category: 'missing_claim',
    problem: 'The user ID the IdP sent is longer than the broker keeps (maxLength characters).',
    fix: "In the IdP, send a shorter, stable user ID (a persistent NameID, an email or UPN, an object id), or set the connection's userIdAttribute to an attribute that holds one.",
  },
  'saml.user_id_missing': {
    category: 'missing_claim',
    problem: 'The response does not carry the attribute the connection reads the user ID from (User ID location: attribute).',
    fix: "Add the attribute to the IdP application's attribute statements, or set the connection's userIdAttribute to the name the IdP uses.",
  },
  'saml.relay_state_unknown': {
    category: 'replay_or_stale_login',
    problem: 'The response came back with a RelayState the broker does not know: the sign-in expired (ttl.interaction), was already completed, or the IdP changed the RelayState.',
    fix: `${START_AGAIN} If it happens every time, make sure the IdP returns the RelayState unchanged (no default Relay State configured in the IdP application).`,
  },
  'saml.relay_state_reused': {
    category: 'replay_or_stale_login',
    problem: 'The same response was posted twice at once; the first one completed the sign-in.',
    fix: START_AGAIN,
  },

  // --- Signing requirements ----------------------------------------------------------------------
  'saml.signature_missing': {
    category: 'signing_requirements',
    problem: 'Neither the response nor the assertion is signed.',
    fix: "In the IdP, turn on signing (Entra ID: SAML Signing Certificate > Signing Option 'Sign SAML response and assertion').",
  },
  'saml.response_unsigned': {
    category: 'signing_requirements',
    problem: 'Our connection requires a signed Response (wantResponseSigned) and the IdP signed only the assertion.',
    fix: "In the IdP, sign the response too (Entra ID: Signing Option 'Sign SAML response and assertion'), or set wantResponseSigned: false in our connection configuration.",
  },
  'saml.assertion_unsigned': {
    category: 'signing_requirements',
    problem: 'Our connection requires a signed Assertion (wantAssertionsSigned) and the IdP signed only the response.',
    fix: "In the IdP, sign the assertion too (Entra ID: Signing Option 'Sign SAML response and assertion'), or set wantAssertionsSigned: false and wantResponseSigned: true in our connection configuration.",
  },

  // --- Algorithm policy -----------------------------------------------------------------------------
  'saml.signature_algorithm_forbidden': {
    category: 'algorithm_policy',
    problem: 'The IdP signed with an algorithm our connection does not accept (algorithm): SHA-1 is refused unless allowed, HMAC always.',
    fix: 'In the IdP, set the signing algorithm to RSA-SHA256 (Entra ID: Signing Algorithm SHA-256). Only for an IdP that cannot, set security.allowSha1: true in our connection configuration (diagnostics then warn).',
  },
  'saml.digest_algorithm_forbidden': {
    category: 'algorithm_policy',
    problem: 'The IdP used a digest algorithm our connection does not accept (algorithm): SHA-1 is refused unless allowed.',
    fix: 'In the IdP, set the digest algorithm to SHA-256. Only for an IdP that cannot, set security.allowSha1: true in our connection configuration (diagnostics then warn).',
  },
  'saml.encryption_algorithm_forbidden': {
    category: 'algorithm_policy',
    problem: 'The assertion is encrypted with an algorithm the broker refuses (algorithm): AES-CBC or RSA PKCS#1 v1.5, which are open to padding-oracle attacks.',
    fix: 'In the IdP, choose AES-GCM (aes128-gcm or aes256-gcm) for the assertion and RSA-OAEP for the key.',
  },

  // --- Assertion encryption --------------------------------------------------------------------------
  'saml.encryption_required': {
    category: 'encryption',
    problem: 'Our connection requires encrypted assertions (security.requireEncryptedAssertions) and this one is not encrypted.',
    fix: 'In the IdP, turn on assertion encryption with the encryption certificate from our SP metadata, or set security.requireEncryptedAssertions: false in our connection configuration.',
  },
  'saml.decryption_unavailable': {
    category: 'encryption',
    problem: 'The IdP encrypted the assertion, but our connection has no decryption key.',
    fix: 'Add an sp.encryption key pair to our connection configuration and give its certificate (published in our SP metadata) to the IdP, or turn off assertion encryption in the IdP.',
  },
  'saml.decryption_failed': {
    category: 'encryption',
    problem: 'The encrypted assertion could not be decrypted: the IdP encrypted it for another certificate than ours.',
    fix: "Upload the encryption certificate from our SP metadata to the IdP (it may still hold an old one), and check that sp.encryption in our connection configuration is the matching key pair.",
  },

  // --- Authentication method -------------------------------------------------------------------------
  'saml.authn_context_insufficient': {
    category: 'authn_context',
    problem: 'The IdP authenticated the person in a way our connection does not accept (receivedAuthnContext, expected one of expectedAuthnContext), for example without MFA.',
    fix: 'In the IdP, require that method for the application (Entra ID: a Conditional Access policy requiring MFA), or change authnRequest.requestedAuthnContext.classRefs in our connection configuration to what the IdP sends.',
  },

  // --- The IdP reported an error -----------------------------------------------------------------------
  'saml.idp_status_error': {
    category: 'idp_error',
    problem: 'The IdP answered with an error (status) instead of a sign-in, for example because the person is not assigned to the application or the IdP refused our request.',
    fix: "Look up the IdP's sign-in logs for this time (Entra ID: Sign-in logs, AADSTS error code). Common fixes in the IdP: assign the user or their group to the application; make the Identifier (Entity ID) and Reply URL match our SP metadata.",
  },

  // --- Not the Web Browser SSO profile -------------------------------------------------------------------
  'saml.subject_confirmation_missing': {
    category: 'idp_profile',
    problem: 'The assertion has no usable bearer SubjectConfirmation, which browser sign-in requires.',
    fix: 'In the IdP, configure the application as a SAML 2.0 web (browser, HTTP-POST) application with the Reply URL ' + `${ACS_URL}.`,
  },
  'saml.subject_confirmation_not_bearer': {
    category: 'idp_profile',
    problem: 'The assertion confirms the subject by another method than bearer (methods): holder-of-key and sender-vouches are not supported.',
    fix: 'In the IdP, configure the application for SAML 2.0 Web Browser SSO (bearer confirmation, HTTP-POST).',
  },
  'saml.subject_confirmation_expiry_missing': {
    category: 'idp_profile',
    problem: 'The bearer confirmation has no expiry (NotOnOrAfter), so the assertion would be usable forever.',
    fix: 'In the IdP, configure the application for SAML 2.0 Web Browser SSO; standard IdPs set NotOnOrAfter themselves. If yours does not, send support the reference.',
  },
  'saml.subject_confirmation_invalid': {
    category: 'idp_profile',
    problem: 'The bearer confirmation is not as the Web Browser SSO profile requires (for example it carries NotBefore).',
    fix: 'In the IdP, configure the application for SAML 2.0 Web Browser SSO. If it already is, send support the reference.',
  },

  // --- Malformed or unexpected response --------------------------------------------------------------------
  'saml.response_missing': {
    category: 'malformed_response',
    problem: 'The request to our ACS URL carried no SAMLResponse.',
    fix: `Only the IdP should post to ${ACS_URL}, with the HTTP-POST binding: check the Reply URL's binding in the IdP. Links or bookmarks to the ACS URL do not work.`,
  },
  'saml.response_too_large': {
    category: 'malformed_response',
    problem: 'The response is larger than our connection accepts (security.maxResponseBytes), usually because of many group claims.',
    fix: "In the IdP, send fewer claims (Entra ID: emit only 'Groups assigned to the application'), or raise security.maxResponseBytes in our connection configuration.",
  },
  'saml.too_deep': {
    category: 'malformed_response',
    problem: 'The response nests XML elements deeper than our connection accepts (security.maxDepth); real responses nest about 12 deep.',
    fix: `${MALFORMED_FIX} For a genuine response, raise security.maxDepth in our connection configuration.`,
  },
  'saml.malformed': { category: 'malformed_response', problem: 'The response is not well-formed base64 SAML XML.', fix: MALFORMED_FIX },
  'saml.not_a_response': { category: 'malformed_response', problem: 'The posted document is not a SAML Response.', fix: MALFORMED_FIX },
  'saml.multiple_responses': { category: 'malformed_response', problem: 'The document holds more than one SAML Response.', fix: MALFORMED_FIX },
  'saml.no_assertion': {
    category: 'malformed_response',
    problem: 'The response carries no assertion (and no error status).',
    fix: `${MALFORMED_FIX} Check the IdP's sign-in logs for the same time.`,
  },
  'saml.multiple_assertions': { category: 'malformed_response', problem: 'The response carries more than one assertion (a signature wrapping attempt, or an IdP feature the broker does not accept).', fix: MALFORMED_FIX },
  'saml.assertion_misplaced': { category: 'malformed_response', problem: 'The assertion is not where SAML puts it (a direct child of the Response): a signature wrapping attempt.', fix: MALFORMED_FIX },
  'saml.doctype_forbidden': { category: 'malformed_response', problem: 'The response contains a DOCTYPE or entity declaration, which SAML never needs (an XML attack).', fix: MALFORMED_FIX },
  'saml.signature_misplaced': { category: 'malformed_response', problem: 'The response carries an XML signature where SAML puts none (only the Response and the Assertion may each carry one): a signature wrapping attempt or a broken IdP.', fix: MALFORMED_FIX },
  'saml.encryption_malformed': { category: 'malformed_response', problem: 'The encrypted assertion is not in the shape XML Encryption gives it (one EncryptedData, its EncryptionMethod and key in their own namespaces): an attempt to have it decrypted another way than it says.', fix: MALFORMED_FIX },
  'saml.processing_instruction_forbidden': { category: 'malformed_response', problem: 'The response contains an XML processing instruction, which SAML never needs (it can hide signed text from a reader).', fix: MALFORMED_FIX },
  'saml.comment_injection': { category: 'malformed_response', problem: 'The response has an XML comment inside the subject or the attributes (a known attack on the user name).', fix: MALFORMED_FIX },
  'saml.invalid_response': {
    category: 'malformed_response',
    problem: 'The SAML library refused the response for a reason without a more specific code.',
    fix: "The broker log holds the reason under the reference shown to the person. Check the IdP application against our SP metadata (Identifier, Reply URL, signing certificate).",
  },

  // --- Single Logout (IdP-initiated LogoutRequests at {issuer}/saml/{connection id}/slo) -----------
  'saml.slo_not_configured': {
    category: 'idp_profile',
    problem: 'A LogoutRequest arrived at our SLO URL, but the connection knows no IdP SLO URL to answer to, so Single Logout is off for it.',
    fix: "Set idp.sloUrl in our connection configuration (or give IdP metadata with a SingleLogoutService), or remove our SLO URL from the IdP's settings.",
  },
  'saml.logout_invalid': {
    category: 'malformed_response',
    problem: 'The message at our SLO URL is not a readable LogoutRequest (not base64/DEFLATE, not well-formed XML, a DOCTYPE, no ID, no or several NameIDs, a repeated query parameter, or an IssueInstant missing).',
    fix: 'Check the IdP logout (SLO) settings: it must send a SAML 2.0 LogoutRequest with the HTTP-Redirect or HTTP-POST binding. Contact support with the reference if the IdP is standard.',
  },
  'saml.logout_unsigned': {
    category: 'signing_requirements',
    problem: 'The LogoutRequest is not signed (no Signature and SigAlg in the query, or no enveloped signature in the POST). An unsigned logout could be forged by anyone.',
    fix: 'Turn on signing of logout requests in the IdP (Entra ID and Okta sign them by default).',
  },
  'saml.logout_invalid_signature': {
    category: 'certificate',
    problem: 'The signature of the LogoutRequest does not verify with the pinned IdP certificates (configuredFingerprints): the IdP signs with another key, or the message was changed.',
    fix: "Compare the IdP's current signing certificate with idp.certificates in our connection configuration; add the new one after a rotation.",
  },
  'saml.logout_algorithm_forbidden': {
    category: 'algorithm_policy',
    problem: 'The LogoutRequest is signed with an algorithm the connection does not accept (SHA-1 without security.allowSha1, or not RSA for the Redirect binding).',
    fix: 'Make the IdP sign with RSA-SHA256; set security.allowSha1 in our connection configuration only for an IdP that cannot.',
  },
  'saml.logout_issuer_mismatch': {
    category: 'entity_id_mismatch',
    problem: 'The Issuer of the LogoutRequest (receivedIssuer) is not the IdP entity ID of this connection (expectedIssuer).',
    fix: "Set idp.entityId in our connection configuration to the IdP's entity ID, or point the IdP at the SLO URL of the right connection.",
  },
  'saml.logout_destination_mismatch': {
    category: 'acs_url_wrong',
    problem: 'The LogoutRequest is addressed (Destination, receivedDestination) to another URL than our SLO URL (expectedDestination).',
    fix: 'Enter our SLO URL ({issuer}/saml/{connection id}/slo, from our SP metadata) as the logout URL in the IdP.',
  },
  'saml.logout_expired': {
    category: 'clock_skew',
    problem: 'The LogoutRequest had expired (NotOnOrAfter, or issued longer ago than ttl.interaction) or was issued in the future: the clocks differ (clockDifferenceSeconds) or it was sent again later.',
    fix: 'Correct the clock of the IdP server or of the broker hosts (NTP), or raise security.clockSkewSeconds in our connection configuration.',
  },
  'saml.logout_replay': {
    category: 'replay_or_stale_login',
    problem: 'This LogoutRequest (logoutRequestId) was already acted on: the browser sent it twice or someone replayed it.',
    fix: 'Usually nothing to change: the person is already signed out. If it repeats, look for a proxy or browser extension that repeats requests, or contact support.',
  },

  // --- Broker error ---------------------------------------------------------------------------------
  'saml.internal': {
    category: 'internal',
    problem: 'The broker failed while handling the response; this is not a configuration problem.',
    fix: 'Send support the reference from the error page and the time.',
  },
};

const UNKNOWN: Explanation = {
  category: 'internal',
  problem: 'The broker refused the response for a reason it has no explanation for yet.',
  fix: 'Send support the reference from the error page, the time and this code.',
};

/** The explanation of a code; a generic one for a code without its own. */
export function explainSamlCode(code: string): Explanation {
  return Object.hasOwn(SAML_MISCONFIGURATIONS, code) ? (SAML_MISCONFIGURATIONS[code] ?? UNKNOWN) : UNKNOWN;
}
