// Hostile SAML responses against the real ACS: the whole broker in-process (portal, authn, token)
// on a real Redis, with "the builder" as the IdP. Each case starts a real login through the portal
// (GET /authorize with PKCE, down to the AuthnRequest sent to https://idp.test/sso, never fetched),
// builds the IdP's response for that AuthnRequest with libs/testing's saml-response-builder, turns
// it into an attack and posts it to /saml/<connection>/acs with the login's RelayState. A refusal
// must be a 4xx page with the support reference and nothing internal, a log line with the specific
// `saml.*` code under that reference (and as the newest entry of the connection's diagnostics,
// without personal data), and no Redis key added but that diagnostics list (no user, login
// result, OIDC grant or session, replay-cache entry). Where it makes sense the legitimate response
// is posted afterwards and must still sign in: a forged response must not burn the real login.
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig, type BrokerConfigInput } from '@broker/config';
import { createRedisStore, type Store } from '@broker/store';
import { redisTestSupport } from '@broker/store/testing';
import { createLogger } from '@broker/telemetry';
import {
  AUTHN_CONTEXT,
  NAMEID_FORMAT,
  SAML_NS,
  SAML_STATUS,
  SUBJECT_CONFIRMATION,
  TestBrowser,
  applyXsw,
  billionLaughsDoctype,
  buildResponseXml,
  buildSamlResponse,
  buildSignedAssertionXml,
  childElements,
  encodeSamlMessage,
  encryptAssertionXml,
  fixtureKeyPair,
  fixtureKeysDirectory,
  mutateXml,
  onlyChild,
  parseRedirectAuthnRequest,
  parseXmlDocument,
  removeSignatures,
  responseAssertion,
  serializeXml,
  setNameId,
  withDoctype,
  withNestedElements,
  xxeDoctype,
  type BuiltSamlResponse,
  type Page,
  type SamlResponseOptions,
  type SignTarget,
  type XswVariant,
} from '@broker/testing';
import { buildBrokerDeps, createBrokerApp } from './broker.ts';
import { resolveSecrets } from './secrets.ts';
import { addedKeys, authorizeUrl, closeServer, expectRefusedPage, keysUnder, listenOnFreePort, type LogLine } from './test/broker-test-support.ts';

const { redisAvailable, redisTestUrl, requireRedisInCi, skipRedisTests } = redisTestSupport;
const url = redisTestUrl();
const available = await redisAvailable(url);

/** The IdP is the builder: these URLs only appear in configuration and AuthnRequests. */
const IDP = { entityId: 'https://idp.test/metadata', ssoUrl: 'https://idp.test/sso' };
const CLIENT = { id: 'saml-attacks-app', redirectUri: 'http://127.0.0.1/callback' };
const TENANT = 'acme';
const ALICE = 'alice@acme.test';
const MALLORY = 'mallory@acme.test';
const EVIL = 'https://evil.test';

const IDP_KEY = fixtureKeyPair('idp-a');
const IDP_NEXT_KEY = fixtureKeyPair('idp-b');
const ATTACKER_KEY = fixtureKeyPair('attacker');
const SP_ENCRYPTION = fixtureKeyPair('sp-encryption');

/** One connection per mode the SP can be in; all trust idp-a only. */
const CONNECTIONS = {
  /** wantAssertionsSigned (the default); can decrypt, does not require encryption. */
  assertion: 'signed-assertion',
  /** wantResponseSigned only; no decryption key. */
  response: 'signed-response',
  /** Both signatures required; can decrypt. */
  both: 'signed-both',
  /** requireEncryptedAssertions (assertion signed inside). */
  encrypted: 'encrypted',
  /** allowSha1 (only to show the SHA-1 refusals are about the algorithm). */
  sha1: 'sha1-allowed',
  /** maxResponseBytes at its minimum-ish, so saml.response_too_large is reachable under the body cap. */
  small: 'small-limit',
  /** maxResponseBytes raised to 1 MiB (many group claims): the HTTP body cap follows it. */
  large: 'large-limit',
  /** Requests MFA (requestedAuthnContext). */
  mfa: 'mfa-required',
} as const;
type ConnectionId = (typeof CONNECTIONS)[keyof typeof CONNECTIONS];

/** How the builder answers on each connection when a case does not say otherwise. */
const MODES: Record<ConnectionId, { sign: SignTarget; encrypt: boolean; authnContextClassRef?: string }> = {
  [CONNECTIONS.assertion]: { sign: 'assertion', encrypt: false },
  [CONNECTIONS.response]: { sign: 'response', encrypt: false },
  [CONNECTIONS.both]: { sign: 'both', encrypt: false },
  [CONNECTIONS.encrypted]: { sign: 'assertion', encrypt: true },
  [CONNECTIONS.sha1]: { sign: 'assertion', encrypt: false },
  [CONNECTIONS.small]: { sign: 'assertion', encrypt: false },
  [CONNECTIONS.large]: { sign: 'assertion', encrypt: false },
  [CONNECTIONS.mfa]: { sign: 'assertion', encrypt: false, authnContextClassRef: AUTHN_CONTEXT.mfa },
};

/** A login started through the portal, stopped where the browser would go to the IdP. */
interface Login {
  browser: TestBrowser;
  connection: ConnectionId;
  requestId: string;
  relayState: string;
  acsUrl: string;
  spEntityId: string;
  /** The AuthnRequest asked the IdP to authenticate again. */
  forceAuthn: boolean;
}

/** Codes a losing post of a concurrent race may get (which one depends on where it loses). */
const RACE_LOSER_CODES = ['saml.relay_state_unknown', 'saml.relay_state_reused', 'saml.in_response_to_unknown', 'saml.in_response_to_reused', 'saml.replay'];

describe.skipIf(skipRedisTests(available, url))('SAML ACS on Redis: hostile responses are refused', () => {
  const prefix = `test:saml-attacks:${randomUUID()}:`;
  const lines: LogLine[] = [];
  let admin: Redis | undefined;
  let store: Store | undefined;
  let broker: Server | undefined;
  let issuer = '';

  beforeAll(async () => {
    requireRedisInCi(available, url);
    admin = new Redis(url, { maxRetriesPerRequest: 1 });

    const listening = await listenOnFreePort();
    broker = listening.server;
    issuer = `http://localhost:${listening.port}`;

    const spEncryption = { encryption: { privateKey: { file: 'sp-encryption.key.pem' }, certificate: { file: 'sp-encryption.cert.pem' } } };
    const connection = (id: ConnectionId, settings: Record<string, unknown>) => ({
      id,
      idp: { entityId: IDP.entityId, ssoUrl: IDP.ssoUrl, certificates: [{ file: 'idp-a.cert.pem' }] },
      nameIdFormat: NAMEID_FORMAT.email,
      ...settings,
    });
    const raw: BrokerConfigInput = {
      issuer,
      tenants: [
        {
          id: TENANT,
          displayName: 'Acme Corporation',
          emailDomains: ['acme.test'],
          connections: [
            connection(CONNECTIONS.assertion, { wantAssertionsSigned: true, wantResponseSigned: false, sp: spEncryption }),
            connection(CONNECTIONS.response, { wantAssertionsSigned: false, wantResponseSigned: true }),
            connection(CONNECTIONS.both, { wantAssertionsSigned: true, wantResponseSigned: true, sp: spEncryption }),
            connection(CONNECTIONS.encrypted, { wantAssertionsSigned: true, security: { requireEncryptedAssertions: true }, sp: spEncryption }),
            connection(CONNECTIONS.sha1, { wantAssertionsSigned: true, security: { allowSha1: true } }),
            connection(CONNECTIONS.small, { wantAssertionsSigned: true, security: { maxResponseBytes: 8192 } }),
            connection(CONNECTIONS.large, { wantAssertionsSigned: true, security: { maxResponseBytes: 1_048_576 } }),
            connection(CONNECTIONS.mfa, { wantAssertionsSigned: true, authnRequest: { requestedAuthnContext: { classRefs: [AUTHN_CONTEXT.mfa] } } }),
          ],
        },
      ],
      clients: [{ clientId: CLIENT.id, kind: 'native', redirectUris: [CLIENT.redirectUri], allowedTenants: [TENANT] }],
    };
    // Certificate and key files resolve against the fixture key directory.
    const config = parseConfig(raw, { baseDir: fileURLToPath(fixtureKeysDirectory), env: {} });
    const logger = createLogger({
      service: 'broker-saml-attacks-test',
      level: 'info',
      destination: { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) },
    });
    store = createRedisStore({ url, keyPrefix: prefix });
    const secrets = await resolveSecrets(config, 'all-in-one', logger);
    broker.on('request', createBrokerApp(await buildBrokerDeps({ config, store, logger, secrets }), ['portal', 'authn', 'token']));
  });

  afterAll(async () => {
    await closeServer(broker);
    await store?.close();
    if (admin) {
      const left = await keysUnder(admin, prefix);
      if (left.size > 0) await admin.del(...[...left].map((key) => `${prefix}${key}`));
      await admin.quit();
    }
  });

  const snapshot = (): Promise<Set<string>> => {
    if (!admin) throw new Error('no Redis connection');
    return keysUnder(admin, prefix);
  };
  const acsUrl = (connection: ConnectionId): string => `${issuer}/saml/${connection}/acs`;

  /** Start a login for `connection` through the portal, up to the redirect to the IdP. */
  async function startLogin(connection: ConnectionId, params: Record<string, string> = {}, browser = new TestBrowser()): Promise<Login> {
    const start = await browser.get(authorizeUrl(issuer, CLIENT, { tenant: TENANT, idp_hint: connection, ...params }));
    const toIdp = await browser.follow(start, (location) => location.startsWith(IDP.ssoUrl));
    expect(toIdp.status, toIdp.body).toBe(302);
    const request = parseRedirectAuthnRequest(toIdp.location ?? '');
    const sp = { acsUrl: acsUrl(connection), spEntityId: `${issuer}/saml/${connection}/metadata` };
    expect(request.acsUrl).toBe(sp.acsUrl);
    expect(request.issuer).toBe(sp.spEntityId);
    if (!request.relayState) throw new Error('the AuthnRequest redirect carries no RelayState');
    return { browser, connection, requestId: request.id, relayState: request.relayState, forceAuthn: /\sForceAuthn="true"/.test(request.xml), ...sp };
  }

  /** What the IdP would answer to this login (the connection's mode), with `overrides`. */
  function responseFor(login: Login, overrides: Partial<SamlResponseOptions> = {}): Promise<BuiltSamlResponse> {
    const mode = MODES[login.connection];
    return buildSamlResponse({
      issuer: IDP.entityId,
      acsUrl: login.acsUrl,
      audience: login.spEntityId,
      inResponseTo: login.requestId,
      nameId: ALICE,
      attributes: { email: ALICE, givenName: 'Alice', surname: 'Liddell' },
      sign: mode.sign,
      signing: { key: IDP_KEY },
      ...(mode.encrypt ? { encryption: { certificatePem: SP_ENCRYPTION.certificatePem } } : {}),
      ...(mode.authnContextClassRef ? { authnContextClassRef: mode.authnContextClassRef } : {}),
      ...overrides,
    });
  }

  function postToAcs(login: Login, samlResponse: string, options: { relayState?: string | null; connection?: ConnectionId } = {}): Promise<Page> {
    const form: Record<string, string> = { SAMLResponse: samlResponse };
    const relayState = options.relayState === undefined ? login.relayState : options.relayState;
    if (relayState !== null) form['RelayState'] = relayState;
    return login.browser.post(acsUrl(options.connection ?? login.connection), form);
  }

  /** Post `samlResponse` for `login` and check every property of a safe refusal with `code`. */
  async function expectRejected(
    login: Login,
    samlResponse: string,
    code: string,
    options: { status?: number; relayState?: string | null; connection?: ConnectionId; hidden?: string[] } = {},
  ): Promise<void> {
    const connection = options.connection ?? login.connection;
    const before = await snapshot();
    const page = await postToAcs(login, samlResponse, options);
    await expectRefusedPage(
      // A refusal may add one key: this connection's diagnostics list (or the login's, on a mismatch).
      { snapshot, lines, allowedNewKey: (key) => key === `saml:diag:${connection}` || key === `saml:diag:${login.connection}` },
      page,
      { status: options.status ?? 400, code, before, hidden: [ALICE, MALLORY, 'InResponseTo', 'signature', 'Assertion', 'idp.test', 'evil.test', ...(options.hidden ?? [])] },
    );
    if (code.startsWith('saml.')) {
      // The administrator's diagnostics got the same code, and nothing that identifies a person.
      const [newest] = (await admin?.lrange(`${prefix}saml:diag:${connection}`, 0, 0)) ?? [];
      expect((JSON.parse(newest ?? '{}') as { code?: string }).code).toBe(code);
      expect(newest).not.toContain(ALICE);
      expect(newest).not.toContain(MALLORY);
    }
  }

  /** Post a response that must sign in: a 303 to the portal's completion URL. */
  async function expectAccepted(login: Login, samlResponse: string): Promise<Page> {
    const page = await postToAcs(login, samlResponse);
    expect(page.status, page.body).toBe(303);
    expect(page.location).toMatch(new RegExp(`^${issuer}/interaction/[^/]+/complete\\?result=`));
    const reference = page.headers.get('x-request-id');
    expect(lines.find((line) => line.requestId === reference)?.msg).toBe('SAML login accepted');
    return page;
  }

  /** After a refusal: the IdP's real answer to the same login still signs in. */
  async function expectLegitimateLoginStillWorks(login: Login): Promise<void> {
    await expectAccepted(login, (await responseFor(login)).base64);
  }

  /** A refused attack followed by the legitimate response to the same login. */
  async function refusedThenLegitimate(login: Login, samlResponse: string, code: string, options: { status?: number } = {}): Promise<void> {
    await expectRejected(login, samlResponse, code, options);
    await expectLegitimateLoginStillWorks(login);
  }

  const encodeXml = encodeSamlMessage;
  /** The attacker's edit of the copy the SP should not believe: the NameID becomes Mallory's. */
  const becomeMallory = (target: Element): void => setNameId(target.localName === 'Response' ? onlyChild(target, SAML_NS.saml, 'Assertion') : target, MALLORY);

  describe('positive controls (each connection mode signs in)', () => {
    it('signed assertion: signs in and the app gets a code', async () => {
      const login = await startLogin(CONNECTIONS.assertion);
      const before = await snapshot();
      const accepted = await expectAccepted(login, (await responseFor(login)).base64);
      const added = addedKeys(before, await snapshot());
      // What an accepted response stores, so that an empty diff after a refusal means something.
      expect(added.some((key) => key.startsWith('login:res:'))).toBe(true);
      expect(added.some((key) => /^saml:\{[^}]+\}:seen:/.test(key))).toBe(true);
      const done = await login.browser.follow(accepted, (location) => location.startsWith(CLIENT.redirectUri));
      expect(done.location).toMatch(new RegExp(`^${CLIENT.redirectUri.replace(/[.]/g, '\\.')}\\?code=`));
    });

    it('signed response: signs in', async () => {
      const login = await startLogin(CONNECTIONS.response);
      await expectAccepted(login, (await responseFor(login)).base64);
    });

    it('both signed: signs in', async () => {
      const login = await startLogin(CONNECTIONS.both);
      await expectAccepted(login, (await responseFor(login)).base64);
    });

    it('encrypted (AES-256-GCM, RSA-OAEP; assertion signed inside): signs in where encryption is required', async () => {
      const login = await startLogin(CONNECTIONS.encrypted);
      const response = await responseFor(login);
      expect(response.xml).toContain('EncryptedAssertion');
      expect(response.xml).not.toContain(ALICE);
      await expectAccepted(login, response.base64);
    });

    it('encrypted and both signed: signs in where encryption is optional', async () => {
      const login = await startLogin(CONNECTIONS.both);
      await expectAccepted(login, (await responseFor(login, { encryption: { certificatePem: SP_ENCRYPTION.certificatePem } })).base64);
    });

    it('SHA-1 signs in only where allowSha1 is set', async () => {
      const login = await startLogin(CONNECTIONS.sha1);
      await expectAccepted(login, (await responseFor(login, { signing: { key: IDP_KEY, signatureAlgorithm: 'rsa-sha1', digestAlgorithm: 'sha1' } })).base64);
    });

    it('the requested authentication context signs in', async () => {
      const login = await startLogin(CONNECTIONS.mfa);
      const response = await responseFor(login);
      expect(response.xml).toContain(`<saml:AuthnContextClassRef>${AUTHN_CONTEXT.mfa}</saml:AuthnContextClassRef>`);
      await expectAccepted(login, response.base64);
    });
  });

  describe('XML signature wrapping (XSW1-XSW8, Somorovsky et al. 2012)', () => {
    // XSW1-2 wrap a signed Response, XSW3-8 a signed Assertion. Every variant needs a second
    // Response or Assertion in the document, which preflight counts before any signature check.
    const responseVariants: XswVariant[] = [1, 2];
    for (const variant of responseVariants) {
      it(`XSW${variant}: a forged Response around the signed one is refused (saml.multiple_responses)`, async () => {
        const login = await startLogin(CONNECTIONS.response);
        const wrapped = applyXsw((await responseFor(login)).xml, variant, becomeMallory);
        expect(wrapped).toContain(MALLORY);
        await refusedThenLegitimate(login, encodeXml(wrapped), 'saml.multiple_responses');
      });
    }

    const assertionVariants: XswVariant[] = [3, 4, 5, 6, 7, 8];
    for (const variant of assertionVariants) {
      it(`XSW${variant}: a forged Assertion beside the signed one is refused (saml.multiple_assertions)`, async () => {
        const login = await startLogin(CONNECTIONS.assertion);
        const wrapped = applyXsw((await responseFor(login)).xml, variant, becomeMallory);
        expect(wrapped).toContain(MALLORY);
        await refusedThenLegitimate(login, encodeXml(wrapped), 'saml.multiple_assertions');
      });
    }

    // Inside an EncryptedAssertion preflight sees one assertion whatever the ciphertext holds (anyone
    // can encrypt for the SP): the SP decrypts and counts the assertions inside too. The
    // attacker wraps their own legitimately signed assertion (Mallory's) to claim Alice's identity.
    const ciphertextVariants: XswVariant[] = [4, 6, 8];
    for (const variant of ciphertextVariants) {
      it(`XSW${variant} inside an encrypted assertion is refused (saml.multiple_assertions)`, async () => {
        const login = await startLogin(CONNECTIONS.encrypted);
        const mallorys = (await responseFor(login, { nameId: MALLORY, attributes: { email: MALLORY }, encryption: undefined })).xml;
        const wrapped = applyXsw(mallorys, variant, (target) => setNameId(target, ALICE));
        const wrappedAssertion = serializeXml(responseAssertion(parseXmlDocument(wrapped)));
        expect(wrappedAssertion).toContain(`>${ALICE}</saml:NameID>`);
        const encrypted = await encryptAssertionXml(wrappedAssertion, { certificatePem: SP_ENCRYPTION.certificatePem });
        const { xml } = buildResponseXml({ issuer: IDP.entityId, acsUrl: login.acsUrl, audience: login.spEntityId, inResponseTo: login.requestId, nameId: null }, [encrypted]);
        await refusedThenLegitimate(login, encodeXml(xml), 'saml.multiple_assertions');
      });
    }

    it('deep nesting inside an encrypted assertion (anyone can encrypt to the SP) is refused by the same scan after decryption (saml.too_deep)', async () => {
      const login = await startLogin(CONNECTIONS.encrypted);
      const plain = (await responseFor(login, { encryption: undefined })).xml;
      const assertionXml = serializeXml(responseAssertion(parseXmlDocument(plain)));
      const deep = assertionXml.replace('</saml:Assertion>', `${'<x>'.repeat(5_000)}${'</x>'.repeat(5_000)}</saml:Assertion>`);
      const encrypted = await encryptAssertionXml(deep, { certificatePem: SP_ENCRYPTION.certificatePem });
      const { xml } = buildResponseXml({ issuer: IDP.entityId, acsUrl: login.acsUrl, audience: login.spEntityId, inResponseTo: login.requestId, nameId: null }, [encrypted]);
      await refusedThenLegitimate(login, encodeXml(xml), 'saml.too_deep');
    });

    it('the signed assertion moved into Extensions (the only assertion left) is refused (saml.assertion_misplaced)', async () => {
      const login = await startLogin(CONNECTIONS.both);
      const moved = mutateXml((await responseFor(login, { sign: 'assertion' })).xml, (doc) => {
        const root = doc.documentElement;
        if (!root) throw new Error('no root');
        const assertion = responseAssertion(doc);
        const extensions = doc.createElementNS(SAML_NS.samlp, 'samlp:Extensions');
        root.insertBefore(extensions, childElements(root, SAML_NS.samlp, 'Status')[0] ?? null);
        extensions.appendChild(assertion);
      });
      await refusedThenLegitimate(login, encodeXml(moved), 'saml.assertion_misplaced');
    });
  });

  describe('signatures and keys', () => {
    it('signature exclusion: every signature removed is refused (saml.signature_missing)', async () => {
      const login = await startLogin(CONNECTIONS.assertion);
      const unsigned = removeSignatures((await responseFor(login, { sign: 'both' })).xml, 'all');
      expect(unsigned).not.toContain('Signature');
      await refusedThenLegitimate(login, encodeXml(unsigned), 'saml.signature_missing');
    });

    it('a signed Response whose Assertion signature was removed is refused where assertions must be signed (saml.assertion_unsigned)', async () => {
      const login = await startLogin(CONNECTIONS.both);
      const stripped = removeSignatures((await responseFor(login)).xml, 'assertion');
      await refusedThenLegitimate(login, encodeXml(stripped), 'saml.assertion_unsigned');
    });

    it('a signed Assertion in an unsigned Response is refused where the Response must be signed (saml.response_unsigned)', async () => {
      const login = await startLogin(CONNECTIONS.response);
      await refusedThenLegitimate(login, (await responseFor(login, { sign: 'assertion' })).base64, 'saml.response_unsigned');
    });

    it('certificate faking: signed with the attacker key, attacker certificate in KeyInfo (saml.certificate_untrusted)', async () => {
      const login = await startLogin(CONNECTIONS.assertion);
      const forged = await responseFor(login, { nameId: MALLORY, signing: { key: ATTACKER_KEY } });
      await refusedThenLegitimate(login, forged.base64, 'saml.certificate_untrusted');
    });

    it('signed with the attacker key, the pinned certificate in KeyInfo (saml.invalid_signature)', async () => {
      const login = await startLogin(CONNECTIONS.assertion);
      const forged = await responseFor(login, { nameId: MALLORY, signing: { key: ATTACKER_KEY, keyInfo: IDP_KEY.certificatePem } });
      await refusedThenLegitimate(login, forged.base64, 'saml.invalid_signature');
    });

    it('signed with the attacker key and no KeyInfo (saml.invalid_signature)', async () => {
      const login = await startLogin(CONNECTIONS.assertion);
      const forged = await responseFor(login, { nameId: MALLORY, signing: { key: ATTACKER_KEY, keyInfo: false } });
      await refusedThenLegitimate(login, forged.base64, 'saml.invalid_signature');
    });

    it("signed with the IdP's next key, not yet configured (saml.certificate_untrusted)", async () => {
      const login = await startLogin(CONNECTIONS.assertion);
      await refusedThenLegitimate(login, (await responseFor(login, { signing: { key: IDP_NEXT_KEY } })).base64, 'saml.certificate_untrusted');
    });

    it('signature valid, NameID changed after signing (saml.invalid_signature)', async () => {
      const login = await startLogin(CONNECTIONS.assertion);
      const tampered = mutateXml((await responseFor(login)).xml, (doc) => setNameId(responseAssertion(doc), MALLORY));
      await refusedThenLegitimate(login, encodeXml(tampered), 'saml.invalid_signature');
    });

    it('signed Response, an attribute changed after signing (saml.invalid_signature)', async () => {
      const login = await startLogin(CONNECTIONS.response);
      const { xml } = await responseFor(login);
      const tampered = xml.replace('>Alice</saml:AttributeValue>', '>Mallory</saml:AttributeValue>');
      expect(tampered).not.toBe(xml);
      await refusedThenLegitimate(login, encodeXml(tampered), 'saml.invalid_signature', {});
    });

    it('comment injection in the NameID, signed by the IdP (saml.comment_injection)', async () => {
      const login = await startLogin(CONNECTIONS.assertion);
      const injected = await responseFor(login, {
        nameId: ALICE,
        // The IdP signs "alice@acme.test<!---->.evil.test": canonicalization drops the comment, so
        // the signature holds while a reader of the first text node would see alice@acme.test.
        transformAssertion: (xml) => xml.replace(`>${ALICE}</saml:NameID>`, `>${ALICE}<!---->.evil.test</saml:NameID>`),
      });
      expect(injected.xml).toContain('<!---->');
      await refusedThenLegitimate(login, injected.base64, 'saml.comment_injection');
    });

    it('processing instruction standing in for signed NameID text, after signing (saml.processing_instruction_forbidden)', async () => {
      const login = await startLogin(CONNECTIONS.assertion);
      // The IdP signs "alice@acme.test.evil.test"; the attacker turns ".evil.test" into a PI.
      // xml-crypto's canonicalization renders a PI as its bare data, so the digest would still
      // match, while a reader sees alice@acme.test.
      const { xml } = await responseFor(login, { nameId: `${ALICE}.evil.test` });
      const tampered = xml.replace(`>${ALICE}.evil.test</saml:NameID>`, `>${ALICE}<?x .evil.test?></saml:NameID>`);
      expect(tampered).not.toBe(xml);
      await refusedThenLegitimate(login, encodeXml(tampered), 'saml.processing_instruction_forbidden');
    });

    it('comment injection in an attribute, signed by the IdP (saml.comment_injection)', async () => {
      const login = await startLogin(CONNECTIONS.both);
      const injected = await responseFor(login, {
        transformAssertion: (xml) => xml.replace(`>${ALICE}</saml:AttributeValue>`, `>${ALICE}<!---->.evil.test</saml:AttributeValue>`),
      });
      expect(injected.xml).toContain('<!---->');
      await refusedThenLegitimate(login, injected.base64, 'saml.comment_injection');
    });

    it('comment injection in a second AttributeStatement, signed by the IdP (saml.comment_injection)', async () => {
      const login = await startLogin(CONNECTIONS.both);
      const injected = await responseFor(login, {
        // The reader takes attributes from every AttributeStatement; the comment check once
        // looked at the first one only.
        transformAssertion: (xml) =>
          xml.replace('</saml:AttributeStatement>', '</saml:AttributeStatement><saml:AttributeStatement><saml:Attribute Name="dept"><saml:AttributeValue>sa<!---->les</saml:AttributeValue></saml:Attribute></saml:AttributeStatement>'),
      });
      expect(injected.xml).toContain('sa<!---->les');
      await refusedThenLegitimate(login, injected.base64, 'saml.comment_injection');
    });

    it('RSA-SHA1 with SHA-1 digests is refused without allowSha1 (saml.signature_algorithm_forbidden)', async () => {
      const login = await startLogin(CONNECTIONS.assertion);
      const sha1 = await responseFor(login, { signing: { key: IDP_KEY, signatureAlgorithm: 'rsa-sha1', digestAlgorithm: 'sha1' } });
      await refusedThenLegitimate(login, sha1.base64, 'saml.signature_algorithm_forbidden');
    });

    it('RSA-SHA256 over a SHA-1 digest is refused without allowSha1 (saml.digest_algorithm_forbidden)', async () => {
      const login = await startLogin(CONNECTIONS.assertion);
      const sha1 = await responseFor(login, { signing: { key: IDP_KEY, digestAlgorithm: 'sha1' } });
      await refusedThenLegitimate(login, sha1.base64, 'saml.digest_algorithm_forbidden');
    });

    it('an HMAC signature keyed with the public certificate is refused (saml.signature_algorithm_forbidden)', async () => {
      const login = await startLogin(CONNECTIONS.assertion);
      const hmac = await responseFor(login, { nameId: MALLORY, signing: { key: IDP_KEY, signatureAlgorithm: 'hmac-sha1', hmacKey: IDP_KEY.certificatePem } });
      expect(hmac.xml).toContain('xmldsig#hmac-sha1');
      await refusedThenLegitimate(login, hmac.base64, 'saml.signature_algorithm_forbidden');
    });

    it('HMAC is refused even where SHA-1 is allowed (saml.signature_algorithm_forbidden)', async () => {
      const login = await startLogin(CONNECTIONS.sha1);
      const hmac = await responseFor(login, { nameId: MALLORY, signing: { key: IDP_KEY, signatureAlgorithm: 'hmac-sha1', digestAlgorithm: 'sha1' } });
      await refusedThenLegitimate(login, hmac.base64, 'saml.signature_algorithm_forbidden');
    });

    it('an encrypted but unsigned assertion is refused: encryption is not authentication (saml.assertion_unsigned)', async () => {
      // Anyone can encrypt for the SP: its encryption certificate is in its public metadata. The
      // SP decrypts first and sees the missing signature.
      const login = await startLogin(CONNECTIONS.encrypted);
      await refusedThenLegitimate(login, (await responseFor(login, { nameId: MALLORY, sign: 'none' })).base64, 'saml.assertion_unsigned');
    });

    it('an encrypted assertion signed by the attacker is refused (saml.certificate_untrusted)', async () => {
      // The attacker's KeyInfo is inside the ciphertext: the SP decrypts first and names the
      // foreign certificate (node-saml's verification against the pinned one would refuse it too).
      const login = await startLogin(CONNECTIONS.encrypted);
      await refusedThenLegitimate(login, (await responseFor(login, { nameId: MALLORY, signing: { key: ATTACKER_KEY } })).base64, 'saml.certificate_untrusted');
    });

    it('RSA-SHA1 inside an encrypted assertion is refused without allowSha1 (saml.signature_algorithm_forbidden)', async () => {
      // The allow-list must not depend on whether the signature is visible before decryption.
      const login = await startLogin(CONNECTIONS.encrypted);
      const sha1 = await responseFor(login, { signing: { key: IDP_KEY, signatureAlgorithm: 'rsa-sha1', digestAlgorithm: 'sha1' } });
      await refusedThenLegitimate(login, sha1.base64, 'saml.signature_algorithm_forbidden');
    });
  });

  describe('XML parser attacks and size limits', () => {
    it('a DOCTYPE is refused (saml.doctype_forbidden)', async () => {
      const login = await startLogin(CONNECTIONS.assertion);
      const withDtd = withDoctype((await responseFor(login)).xml, '<!DOCTYPE samlp:Response>');
      await refusedThenLegitimate(login, encodeXml(withDtd), 'saml.doctype_forbidden', {});
    });

    // The entity references go in after signing (a signer would escape them); the DOCTYPE is
    // refused before any signature is looked at anyway.
    it('an XXE external entity in the NameID is refused (saml.doctype_forbidden)', async () => {
      const login = await startLogin(CONNECTIONS.assertion);
      const signed = (await responseFor(login)).xml;
      const xxe = withDoctype(signed.replace(`>${ALICE}</saml:NameID>`, '>&xxe;</saml:NameID>'), xxeDoctype('samlp:Response'));
      expect(xxe).toContain('>&xxe;</saml:NameID>');
      await refusedThenLegitimate(login, encodeXml(xxe), 'saml.doctype_forbidden');
    });

    it('an entity expansion bomb (billion laughs) is refused (saml.doctype_forbidden)', async () => {
      const login = await startLogin(CONNECTIONS.assertion);
      const signed = (await responseFor(login)).xml;
      const bomb = withDoctype(signed.replace(`>${ALICE}</saml:AttributeValue>`, '>&lol9;</saml:AttributeValue>'), billionLaughsDoctype('samlp:Response', 9));
      expect(bomb).toContain('>&lol9;</saml:AttributeValue>');
      await refusedThenLegitimate(login, encodeXml(bomb), 'saml.doctype_forbidden');
    });

    it('a DOCTYPE smuggled in UTF-16 is refused before any parser (saml.malformed)', async () => {
      const login = await startLogin(CONNECTIONS.assertion);
      const xml = withDoctype((await responseFor(login)).xml, xxeDoctype('samlp:Response'));
      const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(`<?xml version="1.0" encoding="UTF-16"?>${xml}`, 'utf16le')]).toString('base64');
      await refusedThenLegitimate(login, utf16, 'saml.malformed');
    });

    it('deep nesting (20,000 elements, under the HTTP body cap) is refused by the linear scan (saml.too_deep)', async () => {
      const login = await startLogin(CONNECTIONS.assertion);
      const deep = encodeXml(withNestedElements((await responseFor(login)).xml, 20_000));
      // What fits under authn-service's 256 KB form limit, so the scan is what refuses it.
      expect(new URLSearchParams({ SAMLResponse: deep, RelayState: login.relayState }).toString().length).toBeLessThan(256 * 1024);
      await refusedThenLegitimate(login, deep, 'saml.too_deep');
    });

    it('deep nesting (100,000 elements) is refused by the HTTP body cap before any XML is read (413 saml.response_too_large)', async () => {
      const login = await startLogin(CONNECTIONS.assertion);
      const deeper = encodeXml(withNestedElements((await responseFor(login)).xml, 100_000));
      await refusedThenLegitimate(login, deeper, 'saml.response_too_large', { status: 413 });
    });

    it('an oversized body (a 300 KB attribute, signed by the IdP) is refused by the body cap (413 saml.response_too_large)', async () => {
      // The body cap follows the connection's maxResponseBytes (256 KiB of base64 by default,
      // plus room for the form encoding): 300 KB of attribute is over it.
      const login = await startLogin(CONNECTIONS.assertion);
      const big = await responseFor(login, { attributes: { email: ALICE, padding: 'A'.repeat(300 * 1024) } });
      await refusedThenLegitimate(login, big.base64, 'saml.response_too_large', { status: 413 });
    });

    it('a connection whose maxResponseBytes is raised takes a signed response larger than the default body cap', async () => {
      const login = await startLogin(CONNECTIONS.large);
      const big = await responseFor(login, { attributes: { email: ALICE, padding: 'A'.repeat(300 * 1024) } });
      expect(big.base64.length).toBeGreaterThan(300 * 1024);
      await expectAccepted(login, big.base64);
    });

    it('a response larger than the connection maxResponseBytes is refused (saml.response_too_large)', async () => {
      const login = await startLogin(CONNECTIONS.small);
      const big = await responseFor(login, { attributes: { email: ALICE, padding: 'A'.repeat(10 * 1024) } });
      expect(big.base64.length).toBeGreaterThan(8192);
      await refusedThenLegitimate(login, big.base64, 'saml.response_too_large');
    });
  });

  describe('replay and InResponseTo', () => {
    it('the same response posted twice: the second is refused (saml.relay_state_unknown: the RelayState is used up)', async () => {
      const login = await startLogin(CONNECTIONS.assertion);
      const good = await responseFor(login);
      await expectAccepted(login, good.base64);
      await expectRejected(login, good.base64, 'saml.relay_state_unknown');
    });

    it('an old response replayed into a fresh login (new RelayState) is refused (saml.in_response_to_mismatch)', async () => {
      const first = await startLogin(CONNECTIONS.assertion);
      const old = await responseFor(first);
      await expectAccepted(first, old.base64);
      const fresh = await startLogin(CONNECTIONS.assertion);
      await refusedThenLegitimate(fresh, old.base64, 'saml.in_response_to_mismatch');
    });

    it('an old response replayed into a fresh login before it was ever used is refused too (saml.in_response_to_mismatch)', async () => {
      const first = await startLogin(CONNECTIONS.assertion);
      const stolen = await responseFor(first);
      const fresh = await startLogin(CONNECTIONS.assertion);
      await refusedThenLegitimate(fresh, stolen.base64, 'saml.in_response_to_mismatch');
      await expectLegitimateLoginStillWorks(first);
    });

    it('10 concurrent posts of one valid response: exactly one signs in', async () => {
      const login = await startLogin(CONNECTIONS.assertion);
      const good = await responseFor(login, { nameId: `race-${randomUUID()}@acme.test` });
      const before = await snapshot();
      const pages = await Promise.all(Array.from({ length: 10 }, () => postToAcs(login, good.base64)));
      expect(pages.map((page) => page.status).sort()).toEqual([303, ...Array<number>(9).fill(400)]);
      const losers = pages.filter((page) => page.status === 400).map((page) => page.headers.get('x-request-id'));
      for (const reference of losers) {
        const codes = lines.filter((line) => line.requestId === reference).map((line) => line.code);
        expect(codes.some((code) => code !== undefined && RACE_LOSER_CODES.includes(code)), String(codes)).toBe(true);
      }
      const added = addedKeys(before, await snapshot());
      expect(added.filter((key) => key.startsWith('login:res:'))).toHaveLength(1);
      expect(added.filter((key) => /^saml:\{[^}]+\}:seen:/.test(key))).toHaveLength(1);
      expect(added.filter((key) => key.startsWith('user-by-id:'))).toHaveLength(1);
    });

    it('10 concurrent posts of ten different valid responses to one request: exactly one signs in', async () => {
      const login = await startLogin(CONNECTIONS.assertion);
      const responses = await Promise.all(Array.from({ length: 10 }, () => responseFor(login)));
      const before = await snapshot();
      const pages = await Promise.all(responses.map((response) => postToAcs(login, response.base64)));
      expect(pages.filter((page) => page.status === 303)).toHaveLength(1);
      expect(pages.filter((page) => page.status === 400)).toHaveLength(9);
      const added = addedKeys(before, await snapshot());
      expect(added.filter((key) => key.startsWith('login:res:'))).toHaveLength(1);
      expect(added.filter((key) => /^saml:\{[^}]+\}:seen:/.test(key))).toHaveLength(1);
    });

    it('InResponseTo missing (an unsolicited response posted into a login) is refused (saml.in_response_to_missing)', async () => {
      const login = await startLogin(CONNECTIONS.assertion);
      await refusedThenLegitimate(login, (await responseFor(login, { inResponseTo: null })).base64, 'saml.in_response_to_missing');
    });

    it('InResponseTo naming a request the broker never sent is refused (saml.in_response_to_mismatch)', async () => {
      const login = await startLogin(CONNECTIONS.assertion);
      await refusedThenLegitimate(login, (await responseFor(login, { inResponseTo: `_${'0'.repeat(40)}` })).base64, 'saml.in_response_to_mismatch');
    });

    it('InResponseTo of a request already answered is refused, with its old or a new RelayState', async () => {
      const first = await startLogin(CONNECTIONS.assertion);
      await expectAccepted(first, (await responseFor(first)).base64);
      // A new response (new assertion ID, fresh times) for the used-up request.
      const again = await responseFor(first);
      const fresh = await startLogin(CONNECTIONS.assertion);
      await expectRejected(fresh, again.base64, 'saml.in_response_to_mismatch');
      await expectRejected(first, again.base64, 'saml.relay_state_unknown');
      await expectLegitimateLoginStillWorks(fresh);
    });

    it('SubjectConfirmationData answering another request than the Response is refused (saml.in_response_to_mismatch)', async () => {
      // node-saml compares the two first ("InResponseTo does not match subjectInResponseTo"), so its
      // mapping wins over assertion-checks' saml.in_response_to_mismatch.
      const login = await startLogin(CONNECTIONS.assertion);
      await refusedThenLegitimate(login, (await responseFor(login, { subjectInResponseTo: `_${'1'.repeat(40)}` })).base64, 'saml.in_response_to_mismatch');
    });

    it('an assertion ID the IdP already used is refused by the replay cache (saml.replay)', async () => {
      const first = await startLogin(CONNECTIONS.assertion);
      const used = await responseFor(first);
      await expectAccepted(first, used.base64);
      const second = await startLogin(CONNECTIONS.assertion);
      await expectRejected(second, (await responseFor(second, { assertionId: used.assertionId })).base64, 'saml.replay');
      // Only the IdP can sign such a response; the request ID it answered is used up by then, so
      // this login is not retried here.
    });

    it('a response without RelayState (IdP-initiated, off on this connection) is refused (saml.unsolicited)', async () => {
      const login = await startLogin(CONNECTIONS.assertion);
      await expectRejected(login, (await responseFor(login)).base64, 'saml.unsolicited', { relayState: null });
      await expectLegitimateLoginStillWorks(login);
    });

    it("a response posted to another connection's ACS with this login's RelayState is refused (saml.relay_state_mismatch)", async () => {
      const login = await startLogin(CONNECTIONS.assertion);
      await expectRejected(login, (await responseFor(login)).base64, 'saml.relay_state_mismatch', { connection: CONNECTIONS.both });
      await expectLegitimateLoginStillWorks(login);
    });
  });

  describe('audience, destination, recipient, issuers', () => {
    it('audience of another SP is refused (saml.audience_mismatch)', async () => {
      const login = await startLogin(CONNECTIONS.assertion);
      await refusedThenLegitimate(login, (await responseFor(login, { audience: `${EVIL}/metadata` })).base64, 'saml.audience_mismatch');
    });

    it('no AudienceRestriction is refused (saml.audience_missing)', async () => {
      const login = await startLogin(CONNECTIONS.assertion);
      await refusedThenLegitimate(login, (await responseFor(login, { audience: null })).base64, 'saml.audience_missing');
    });

    it('an audience extending our entity ID as a prefix is refused (saml.audience_mismatch)', async () => {
      const login = await startLogin(CONNECTIONS.assertion);
      await refusedThenLegitimate(login, (await responseFor(login, { audience: `${login.spEntityId}.evil` })).base64, 'saml.audience_mismatch');
    });

    it('a second AudienceRestriction for another SP is refused (they are ANDed) (saml.audience_mismatch)', async () => {
      const login = await startLogin(CONNECTIONS.assertion);
      const response = await responseFor(login, { audienceRestrictions: [[login.spEntityId], [`${EVIL}/metadata`]] });
      await refusedThenLegitimate(login, response.base64, 'saml.audience_mismatch');
    });

    it('a signed Response addressed to another endpoint is refused (saml.destination_mismatch)', async () => {
      const login = await startLogin(CONNECTIONS.response);
      await refusedThenLegitimate(login, (await responseFor(login, { destination: `${EVIL}/acs` })).base64, 'saml.destination_mismatch');
    });

    it('a signed Response without Destination is refused (saml.destination_missing)', async () => {
      const login = await startLogin(CONNECTIONS.response);
      await refusedThenLegitimate(login, (await responseFor(login, { destination: null })).base64, 'saml.destination_missing');
    });

    it('a Recipient other than our ACS is refused (saml.recipient_mismatch)', async () => {
      const login = await startLogin(CONNECTIONS.assertion);
      await refusedThenLegitimate(login, (await responseFor(login, { recipient: `${EVIL}/acs` })).base64, 'saml.recipient_mismatch');
    });

    it('no Recipient is refused (saml.recipient_missing)', async () => {
      const login = await startLogin(CONNECTIONS.assertion);
      await refusedThenLegitimate(login, (await responseFor(login, { recipient: null })).base64, 'saml.recipient_missing');
    });

    it('another Response Issuer is refused (saml.issuer_mismatch)', async () => {
      const login = await startLogin(CONNECTIONS.both);
      await refusedThenLegitimate(login, (await responseFor(login, { responseIssuer: `${EVIL}/metadata` })).base64, 'saml.issuer_mismatch');
    });

    it('another Assertion Issuer (signed with the pinned key) is refused (saml.assertion_issuer_mismatch)', async () => {
      const login = await startLogin(CONNECTIONS.assertion);
      await refusedThenLegitimate(login, (await responseFor(login, { assertionIssuer: `${EVIL}/metadata` })).base64, 'saml.assertion_issuer_mismatch');
    });
  });

  describe('time and subject confirmation', () => {
    it('expired: Conditions NotOnOrAfter has passed (saml.expired)', async () => {
      const login = await startLogin(CONNECTIONS.assertion);
      await refusedThenLegitimate(login, (await responseFor(login, { times: { notBefore: -300, notOnOrAfter: -120 } })).base64, 'saml.expired');
    });

    it('not yet valid: Conditions NotBefore in the future (saml.not_yet_valid)', async () => {
      const login = await startLogin(CONNECTIONS.assertion);
      await refusedThenLegitimate(login, (await responseFor(login, { times: { notBefore: 600, notOnOrAfter: 900 } })).base64, 'saml.not_yet_valid');
    });

    it('issued in the future beyond the clock skew (saml.not_yet_valid)', async () => {
      const login = await startLogin(CONNECTIONS.assertion);
      await refusedThenLegitimate(login, (await responseFor(login, { times: { issueInstant: 600 } })).base64, 'saml.not_yet_valid');
    });

    it('SubjectConfirmationData expired while the Conditions hold is refused (saml.subject_confirmation_expired)', async () => {
      const login = await startLogin(CONNECTIONS.assertion);
      await refusedThenLegitimate(login, (await responseFor(login, { times: { subjectNotOnOrAfter: -120 } })).base64, 'saml.subject_confirmation_expired');
    });

    it('a bearer SubjectConfirmationData with NotBefore is refused (saml.subject_confirmation_invalid)', async () => {
      const login = await startLogin(CONNECTIONS.assertion);
      await refusedThenLegitimate(login, (await responseFor(login, { times: { subjectNotBefore: -10 } })).base64, 'saml.subject_confirmation_invalid');
    });

    it('holder-of-key SubjectConfirmation is refused (saml.subject_confirmation_not_bearer)', async () => {
      const login = await startLogin(CONNECTIONS.assertion);
      await refusedThenLegitimate(login, (await responseFor(login, { subjectConfirmationMethod: SUBJECT_CONFIRMATION.holderOfKey })).base64, 'saml.subject_confirmation_not_bearer');
    });

    it('no SubjectConfirmation is refused (saml.subject_confirmation_missing)', async () => {
      const login = await startLogin(CONNECTIONS.assertion);
      await refusedThenLegitimate(login, (await responseFor(login, { subjectConfirmationMethod: null })).base64, 'saml.subject_confirmation_missing');
    });

    it('an assertion just older than maxAssertionAge + skew is refused (saml.assertion_too_old)', async () => {
      // 390 s old: past assertion-checks' limit (300 s + 60 s skew) while node-saml's own age check
      // (it adds the skew once more) still lets it through to ours.
      const login = await startLogin(CONNECTIONS.assertion);
      await refusedThenLegitimate(login, (await responseFor(login, { times: { issueInstant: -390, notBefore: -390 } })).base64, 'saml.assertion_too_old');
    });

    it('an hour-old assertion whose IdP claims it is still valid is refused (saml.assertion_too_old)', async () => {
      const login = await startLogin(CONNECTIONS.assertion);
      await refusedThenLegitimate(login, (await responseFor(login, { times: { issueInstant: -3600, notBefore: -3600 } })).base64, 'saml.assertion_too_old');
    });

    it('no NameID is refused (saml.nameid_missing)', async () => {
      const login = await startLogin(CONNECTIONS.assertion);
      await refusedThenLegitimate(login, (await responseFor(login, { nameId: null })).base64, 'saml.nameid_missing');
    });

    it('a weaker authentication context than requested is refused (saml.authn_context_insufficient)', async () => {
      const login = await startLogin(CONNECTIONS.mfa);
      await refusedThenLegitimate(login, (await responseFor(login, { authnContextClassRef: AUTHN_CONTEXT.passwordProtectedTransport })).base64, 'saml.authn_context_insufficient');
    });
  });

  describe('structure, status and encryption', () => {
    it('several assertions, each signed by the IdP, are refused (saml.multiple_assertions)', async () => {
      const login = await startLogin(CONNECTIONS.assertion);
      const second = await buildSignedAssertionXml({ issuer: IDP.entityId, acsUrl: login.acsUrl, audience: login.spEntityId, inResponseTo: login.requestId, nameId: MALLORY, sign: 'assertion', signing: { key: IDP_KEY } });
      await refusedThenLegitimate(login, (await responseFor(login, { extraAssertionsXml: [second.wireXml] })).base64, 'saml.multiple_assertions');
    });

    it('a successful status without any assertion is refused (saml.no_assertion)', async () => {
      const login = await startLogin(CONNECTIONS.response);
      await refusedThenLegitimate(login, (await responseFor(login, { omitAssertion: true })).base64, 'saml.no_assertion');
    });

    it('an IdP error status is refused (saml.idp_status_error)', async () => {
      const login = await startLogin(CONNECTIONS.assertion);
      const failed = await responseFor(login, { omitAssertion: true, sign: 'none', status: { code: SAML_STATUS.responder, subCode: SAML_STATUS.authnFailed, message: 'The user cancelled' } });
      await refusedThenLegitimate(login, failed.base64, 'saml.idp_status_error', {});
    });

    it('an assertion encrypted for the attacker key is refused (saml.decryption_failed)', async () => {
      const login = await startLogin(CONNECTIONS.encrypted);
      const wrongKey = await responseFor(login, { encryption: { certificatePem: ATTACKER_KEY.certificatePem } });
      await refusedThenLegitimate(login, wrongKey.base64, 'saml.decryption_failed');
    });

    it('AES-CBC data encryption is refused (saml.encryption_algorithm_forbidden)', async () => {
      const login = await startLogin(CONNECTIONS.encrypted);
      const cbc = await responseFor(login, { encryption: { certificatePem: SP_ENCRYPTION.certificatePem, dataAlgorithm: 'aes256-cbc' } });
      expect(cbc.xml).toContain('xmlenc#aes256-cbc');
      await refusedThenLegitimate(login, cbc.base64, 'saml.encryption_algorithm_forbidden');
    });

    it('RSA PKCS#1 v1.5 key transport is refused (saml.encryption_algorithm_forbidden)', async () => {
      const login = await startLogin(CONNECTIONS.encrypted);
      const rsa15 = await responseFor(login, { encryption: { certificatePem: SP_ENCRYPTION.certificatePem, keyTransport: 'rsa-1_5' } });
      await refusedThenLegitimate(login, rsa15.base64, 'saml.encryption_algorithm_forbidden');
    });

    it('a plaintext assertion where encryption is required is refused (saml.encryption_required)', async () => {
      const login = await startLogin(CONNECTIONS.encrypted);
      await refusedThenLegitimate(login, (await buildSamlResponse(plainOptions(login))).base64, 'saml.encryption_required');
    });

    it('an encrypted assertion on a connection without a decryption key is refused (saml.decryption_unavailable)', async () => {
      const login = await startLogin(CONNECTIONS.response);
      const encrypted = await responseFor(login, { encryption: { certificatePem: SP_ENCRYPTION.certificatePem } });
      await refusedThenLegitimate(login, encrypted.base64, 'saml.decryption_unavailable');
    });

    it('comment injection inside an encrypted assertion cannot truncate the NameID', async () => {
      // Preflight cannot see inside the ciphertext; what protects here is that node-saml reads the
      // identity from the canonical signed bytes (comment dropped, text joined): the login, if
      // any, is for the full NameID the IdP signed, never for alice@acme.test.
      const login = await startLogin(CONNECTIONS.encrypted);
      const injected = await responseFor(login, {
        nameId: ALICE,
        attributes: {},
        transformAssertion: (xml) => xml.replace(`>${ALICE}</saml:NameID>`, `>${ALICE}<!---->.evil.test</saml:NameID>`),
      });
      const before = await snapshot();
      const page = await postToAcs(login, injected.base64);
      if (page.status === 303) {
        const added = addedKeys(before, await snapshot());
        expect(added).toContain(`user:{${TENANT}}:by-subject:${CONNECTIONS.encrypted}:${ALICE}.evil.test`);
        expect(added.filter((key) => key.endsWith(`:by-subject:${CONNECTIONS.encrypted}:${ALICE}`))).toEqual([]);
      } else {
        // Refusing it outright (a comment check after decryption) is fine too.
        await expectRefusedPage({ snapshot, lines }, page, { status: 400, code: 'saml.comment_injection', before });
      }
    });
  });

  /** The options of `responseFor` for this login, as plain (never encrypted) options. */
  function plainOptions(login: Login): SamlResponseOptions {
    return {
      issuer: IDP.entityId,
      acsUrl: login.acsUrl,
      audience: login.spEntityId,
      inResponseTo: login.requestId,
      nameId: ALICE,
      attributes: { email: ALICE },
      sign: 'assertion',
      signing: { key: IDP_KEY },
    };
  }

  describe('what an accepted assertion gives the login (not attacks: the rules after validation)', () => {
    /** The login result an accepted response leaves for the portal (the ACS's redirect names it). */
    const loginResult = async (accepted: Page): Promise<{ authTime: number }> => {
      const resultId = new URL(accepted.location ?? '').searchParams.get('result') ?? '';
      return JSON.parse((await admin?.get(`${prefix}login:res:${resultId}`)) ?? '{}') as { authTime: number };
    };
    /** Post a response the IdP signed and that passes validation, but that the login refuses. */
    const expectLoginRefused = async (login: Login, samlResponse: string, code: string): Promise<void> => {
      const page = await postToAcs(login, samlResponse);
      expect(page.status, page.body.slice(0, 300)).toBe(400);
      const reference = page.headers.get('x-request-id');
      expect(lines.find((line) => line.requestId === reference && line.msg === `rejected: ${code}`)).toBeDefined();
    };

    it('auth_time is the IdP’s AuthnInstant, not the time the response arrived', async () => {
      const login = await startLogin(CONNECTIONS.assertion);
      expect(login.forceAuthn).toBe(false);
      // An IdP session two hours old: the assertion is fresh, the authentication is not.
      const accepted = await expectAccepted(login, (await responseFor(login, { times: { authnInstant: -7200 } })).base64);
      const { authTime } = await loginResult(accepted);
      expect(Math.abs(authTime - (Math.floor(Date.now() / 1000) - 7200))).toBeLessThanOrEqual(5);
    });

    it('prompt=login, and max_age over an older broker session, send ForceAuthn; then an AuthnInstant from before the request is refused (saml.authn_not_fresh)', async () => {
      const forced = await startLogin(CONNECTIONS.assertion, { prompt: 'login' });
      expect(forced.forceAuthn).toBe(true);
      await refusedThenLegitimate(forced, (await responseFor(forced, { times: { authnInstant: -600 } })).base64, 'saml.authn_not_fresh');

      // max_age without a broker session: the IdP's answer stands (auth_time tells its age).
      const first = await startLogin(CONNECTIONS.assertion, { max_age: '60' });
      expect(first.forceAuthn).toBe(false);
      const accepted = await expectAccepted(first, (await responseFor(first, { times: { authnInstant: -120 } })).base64);
      const done = await first.browser.follow(accepted, (location) => location.startsWith(CLIENT.redirectUri));
      expect(done.location).toContain('code=');
      // The same browser again with max_age=60: its broker session (authenticated 2 minutes ago) is too old.
      const again = await startLogin(CONNECTIONS.assertion, { max_age: '60' }, first.browser);
      expect(again.forceAuthn).toBe(true);
      await refusedThenLegitimate(again, (await responseFor(again, { times: { authnInstant: -120 } })).base64, 'saml.authn_not_fresh');
    });

    it('a transient NameID as the user ID is refused (saml.nameid_transient); a user ID over 256 characters too', async () => {
      const transient = await startLogin(CONNECTIONS.assertion);
      await expectLoginRefused(transient, (await responseFor(transient, { nameIdFormat: NAMEID_FORMAT.transient, nameId: '_7f3c9a1e' })).base64, 'saml.nameid_transient');
      const long = await startLogin(CONNECTIONS.assertion);
      await expectLoginRefused(long, (await responseFor(long, { nameIdFormat: NAMEID_FORMAT.persistent, nameId: 'x'.repeat(257) })).base64, 'saml.user_id_too_long');
    });
  });
});
