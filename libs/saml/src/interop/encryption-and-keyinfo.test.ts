/**
 * Interop beyond samlify's repertoire: encrypted assertions in layouts and with algorithms real
 * IdPs use (hand-built XML Encryption around an AD FS shaped, signed assertion), and KeyInfo
 * content. The last describe pins responses a legitimate IdP can send that our SP refuses today:
 * each test asserts today's refusal precisely; when libs/saml is fixed, turn it into an
 * acceptance test.
 */
import { describe, expect, it } from 'vitest';
import { createMemoryStore } from '@broker/store';
import { createSamlServiceProvider, type ValidatedAssertion } from '../service-provider.ts';
import { BROKER_ISSUER, TEST_KEYS, acsPost, interopConnection, spEndpoints, startLogin } from './support.ts';
import { CLAIMS, NAMEID, adfsIssuer, adfsResponse, type AdfsResponseInput } from './vendor-responses.ts';
import { encryptAssertion, type EncryptionOptions } from './xml-encryption.ts';

const person = { email: 'katherine.johnson@contoso.test', givenName: 'Katherine', surname: 'Johnson' };

/** Start a login on a fresh SP, have "AD FS" answer it (optionally encrypted), post the answer. */
async function roundTrip(options: { encryption?: EncryptionOptions; adfs?: Partial<AdfsResponseInput> } = {}): Promise<ValidatedAssertion> {
  const store = createMemoryStore();
  const sp = createSamlServiceProvider({ issuer: BROKER_ISSUER, store });
  const connection = interopConnection({
    idpEntityId: adfsIssuer(),
    encrypted: options.encryption !== undefined,
    attributes: { email: CLAIMS.emailaddress, givenName: CLAIMS.givenname, surname: CLAIMS.surname },
  });
  const { requestId } = await startLogin(sp, connection);
  const xml = adfsResponse({ requestId, ...spEndpoints(connection), person, nameIdFormat: 'transient', ...options.adfs, raw: true });
  const posted = options.encryption ? encryptAssertion(xml, options.encryption) : xml;
  const req = acsPost(Buffer.from(posted, 'utf8').toString('base64'));
  return sp.validateResponse(req, connection, { expectedRequestId: requestId });
}

const expectPerson = (assertion: ValidatedAssertion): void => {
  expect(assertion).toMatchObject({ nameIdFormat: NAMEID.transient, issuer: adfsIssuer(), attributes: { [CLAIMS.emailaddress]: person.email } });
};

describe('encrypted assertions in the layouts IdPs use', () => {
  it('AES-256-GCM with RSA-OAEP (SHA-1), EncryptedKey inside EncryptedData', async () => {
    expectPerson(await roundTrip({ encryption: { data: 'aes256-gcm', keyTransport: 'rsa-oaep-mgf1p' } }));
  });

  it('AES-128-GCM with the EncryptedKey beside EncryptedData, found through a RetrievalMethod (Shibboleth IdP layout)', async () => {
    expectPerson(await roundTrip({ encryption: { data: 'aes128-gcm', keyTransport: 'rsa-oaep-mgf1p', keyPlacement: 'sibling' } }));
  });

  it('AES-256-CBC is refused by policy (CBC never: padding oracles), though AD FS encrypts with it by default', async () => {
    await expect(roundTrip({ encryption: { data: 'aes256-cbc', keyTransport: 'rsa-oaep-mgf1p' } })).rejects.toMatchObject({
      code: 'saml.encryption_algorithm_forbidden',
    });
  });
});

describe('KeyInfo', () => {
  it('a signature without KeyInfo (the IdP leaves the certificate out) is verified with the pinned certificate', async () => {
    expectPerson(await roundTrip({ adfs: { keyInfoCertificates: [] } }));
  });
});

describe('encryption variants the SP refuses with a clear code, and KeyInfo chains it accepts', () => {
  it('RSA-OAEP with a SHA-256 OAEP digest is refused as unsupported (xml-encryption 3.1 would unwrap it with SHA-1 and fail obscurely)', async () => {
    await expect(roundTrip({ encryption: { data: 'aes256-gcm', keyTransport: 'rsa-oaep-mgf1p', oaepDigest: 'sha256' } })).rejects.toMatchObject({
      code: 'saml.encryption_algorithm_forbidden',
      message: expect.stringMatching(/RSA-OAEP digest/) as unknown,
    });
  });

  it('XML Encryption 1.1 rsa-oaep key transport is refused as unsupported, before any decryption', async () => {
    await expect(roundTrip({ encryption: { data: 'aes256-gcm', keyTransport: 'xmlenc11-rsa-oaep' } })).rejects.toMatchObject({
      code: 'saml.encryption_algorithm_forbidden',
      message: expect.stringMatching(/key transport http:\/\/www\.w3\.org\/2009\/xmlenc11#rsa-oaep is not allowed/) as unknown,
    });
  });

  it('KeyInfo carrying the signing certificate and its issuer is accepted: one pinned certificate in the chain suffices', async () => {
    expectPerson(await roundTrip({ adfs: { keyInfoCertificates: [TEST_KEYS.idpCert, TEST_KEYS.otherCert] } }));
    expectPerson(await roundTrip({ adfs: { keyInfoCertificates: [TEST_KEYS.idpCert] } }));
    // Only certificates nobody pinned: refused, naming the certificate problem.
    await expect(roundTrip({ adfs: { keyInfoCertificates: [TEST_KEYS.otherCert] } })).rejects.toMatchObject({ code: 'saml.certificate_untrusted' });
  });
});
