/**
 * Test-only: samlify (an SAML implementation independent of node-saml) standing in for the
 * customer's IdP. It signs with idp-a and, for the encrypted mode, encrypts for the
 * sp-encryption certificate. Responses follow samlify's own default login-response template
 * (libsaml.defaultLoginResponseTemplate), with an AuthnStatement added since the default has
 * none, so what our SP sees is samlify's shape, samlify's signatures and samlify's encryption.
 *
 * samlify pitfalls (see also libs/dev-idp/src/saml.ts):
 * - It is CommonJS; its named re-exports are invisible to Node's ESM loader: default import.
 * - Which parts it signs follows the *SP entity* it is given: `wantAssertionsSigned` signs the
 *   Assertion; `wantMessageSigned`, or an SP that does not want signed assertions, signs the
 *   Response. Asking for both yields both.
 * - With encryption, the Response signature is computed before the Assertion is encrypted (and so
 *   broken) unless `encryptThenSign` is passed: encrypted modes here sign the Assertion inside,
 *   or sign the Response after encryption.
 * - Its default data encryption is AES-256-CBC, which our SP refuses: set AES-256-GCM.
 * - `replaceTagsByValue` XML-escapes values, so XML fragments must be in the template, not values.
 */
import { randomUUID } from 'node:crypto';
import samlify from 'samlify';
import { TEST_KEYS, instant } from './support.ts';

const BINDING_POST = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST';
export const NAMEID_EMAIL = 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress';
export const AC_PASSWORD_PROTECTED = 'urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport';
const ATTRNAME_BASIC = 'urn:oasis:names:tc:SAML:2.0:attrname-format:basic';
const RSA_SHA256 = 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256';
const AES256_GCM = 'http://www.w3.org/2009/xmlenc11#aes256-gcm';
const RSA_OAEP_MGF1P = 'http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p';

/**
 * Where the signatures go:
 * - `response`: only the Response is signed;
 * - `assertion`: only the Assertion is signed;
 * - `both`: the Assertion, then the Response around it;
 * - `encrypted`: the Assertion is signed, then encrypted (AES-256-GCM, RSA-OAEP); Response unsigned;
 * - `encrypted-response-signed`: the Assertion is encrypted unsigned, the Response signed after.
 */
type IdpSettings = NonNullable<Parameters<typeof samlify.IdentityProvider>[0]>;

export type SamlifyMode = 'response' | 'assertion' | 'both' | 'encrypted' | 'encrypted-response-signed';

const AUTHN_STATEMENT =
  '<saml:AuthnStatement AuthnInstant="{AuthnInstant}" SessionIndex="{SessionIndex}">' +
  '<saml:AuthnContext><saml:AuthnContextClassRef>{AuthnContextClassRef}</saml:AuthnContextClassRef></saml:AuthnContext>' +
  '</saml:AuthnStatement>';

export interface SamlifyUser {
  email: string;
  givenName: string;
  surname: string;
}

export interface SamlifyResponseInput {
  mode: SamlifyMode;
  requestId: string;
  spEntityId: string;
  acsUrl: string;
  user: SamlifyUser;
  authnContextClassRef?: string;
}

export interface SamlifyIdp {
  entityId: string;
  /** A base64 SAMLResponse for the HTTP-POST binding. */
  respond(input: SamlifyResponseInput): Promise<string>;
}

export function createSamlifyIdp(entityId = 'https://samlify-idp.example.test/metadata'): SamlifyIdp {
  const settings = (encrypted: boolean): IdpSettings & { dataEncryptionAlgorithm?: string; keyEncryptionAlgorithm?: string } => ({
    entityID: entityId,
    privateKey: TEST_KEYS.idpKey,
    signingCert: TEST_KEYS.idpCert,
    // Despite the name, samlify signs login responses with this (the digest follows it).
    requestSignatureAlgorithm: RSA_SHA256,
    nameIDFormat: [NAMEID_EMAIL],
    singleSignOnService: [{ Binding: BINDING_POST, Location: 'https://samlify-idp.example.test/sso' }],
    // Unused; without it samlify prints a warning at construction.
    singleLogoutService: [{ Binding: BINDING_POST, Location: 'https://samlify-idp.example.test/slo' }],
    isAssertionEncrypted: encrypted,
    dataEncryptionAlgorithm: AES256_GCM,
    keyEncryptionAlgorithm: RSA_OAEP_MGF1P,
    loginResponseTemplate: {
      context: samlify.SamlLib.defaultLoginResponseTemplate.context?.replace('{AuthnStatement}', AUTHN_STATEMENT) ?? '',
      attributes: [
        { name: 'email', valueTag: 'email', nameFormat: ATTRNAME_BASIC, valueXsiType: 'xs:string' },
        { name: 'givenName', valueTag: 'givenName', nameFormat: ATTRNAME_BASIC, valueXsiType: 'xs:string' },
        { name: 'surname', valueTag: 'surname', nameFormat: ATTRNAME_BASIC, valueXsiType: 'xs:string' },
      ],
    },
  });
  const plainIdp = samlify.IdentityProvider(settings(false));
  const encryptingIdp = samlify.IdentityProvider(settings(true));

  return {
    entityId,
    async respond({ mode, requestId, spEntityId, acsUrl, user, authnContextClassRef }) {
      const encrypted = mode === 'encrypted' || mode === 'encrypted-response-signed';
      const sp = samlify.ServiceProvider({
        entityID: spEntityId,
        assertionConsumerService: [{ Binding: BINDING_POST, Location: acsUrl }],
        wantAssertionsSigned: mode === 'assertion' || mode === 'both' || mode === 'encrypted',
        wantMessageSigned: mode === 'response' || mode === 'both' || mode === 'encrypted-response-signed',
        ...(encrypted ? { encryptCert: TEST_KEYS.spEncryptionCert } : {}),
      });
      const responseId = `_${randomUUID()}`;
      const values: Record<string, string> = {
        ID: responseId,
        AssertionID: `_${randomUUID()}`,
        IssueInstant: instant(),
        Destination: acsUrl,
        Issuer: entityId,
        StatusCode: 'urn:oasis:names:tc:SAML:2.0:status:Success',
        NameIDFormat: NAMEID_EMAIL,
        NameID: user.email,
        SubjectConfirmationDataNotOnOrAfter: instant(5 * 60_000),
        SubjectRecipient: acsUrl,
        ConditionsNotBefore: instant(),
        ConditionsNotOnOrAfter: instant(5 * 60_000),
        Audience: spEntityId,
        AuthnInstant: instant(-30_000),
        SessionIndex: `_${randomUUID()}`,
        AuthnContextClassRef: authnContextClassRef ?? AC_PASSWORD_PROTECTED,
        attrEmail: user.email,
        attrGivenName: user.givenName,
        attrSurname: user.surname,
        // Last: samlify substitutes tags in order, and this one comes from the SP.
        InResponseTo: requestId,
      };
      const result = await (encrypted ? encryptingIdp : plainIdp).createLoginResponse(sp, { extract: { request: { id: requestId } } }, 'post', { email: user.email }, {
        customTagReplacement: (template) => ({ id: responseId, context: samlify.SamlLib.replaceTagsByValue(template, values) }),
        encryptThenSign: mode === 'encrypted-response-signed',
      });
      return result.context;
    },
  };
}
