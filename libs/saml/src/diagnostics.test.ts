import { describe, expect, it } from 'vitest';
import { createMemoryStore, keys } from '@broker/store';
import { createSamlDiagnostics, supportDetail } from './diagnostics.ts';

const PERSONAL = ['alice@acme.test', 'Alice', 'Anderson', '<saml:NameID>', 'SAMLResponse'];

describe('createSamlDiagnostics', () => {
  it('records entries newest first with the time and code', async () => {
    let now = Date.parse('2026-11-23T10:00:00Z');
    const diagnostics = createSamlDiagnostics({ store: createMemoryStore(), now: () => now });
    await diagnostics.record('acme', { code: 'saml.audience_mismatch', detail: { expectedAudience: 'https://sp/metadata', receivedAudience: ['urn:other'] } });
    now += 1000;
    await diagnostics.record('acme', { code: 'saml.replay' });
    expect(await diagnostics.list('acme')).toEqual([
      { at: '2026-11-23T10:00:01.000Z', code: 'saml.replay', detail: {} },
      { at: '2026-11-23T10:00:00.000Z', code: 'saml.audience_mismatch', detail: { expectedAudience: 'https://sp/metadata', receivedAudience: ['urn:other'] } },
    ]);
    expect(await diagnostics.list('other-connection')).toEqual([]);
  });

  it('keeps only the allow-listed support fields: no NameID, email, names, XML or reason text', async () => {
    const store = createMemoryStore();
    const diagnostics = createSamlDiagnostics({ store });
    await diagnostics.record('acme', {
      code: 'saml.invalid_signature',
      detail: {
        reason: 'invalid signature for alice@acme.test',
        nameId: 'alice@acme.test',
        email: 'alice@acme.test',
        givenName: 'Alice',
        surname: 'Anderson',
        xml: '<saml:NameID>alice@acme.test</saml:NameID>',
        SAMLResponse: 'PHNhbWxwOlJlc3BvbnNl',
        attributes: { email: 'alice@acme.test' },
        connectionId: 'acme',
        expectedInResponseTo: '_abc',
        expectedIssuer: 'urn:idp',
        receivedIssuer: 'urn:idp',
        configuredFingerprints: ['aa', 'bb'],
        receivedFingerprints: ['cc'],
        clockDifferenceSeconds: -3,
        algorithm: 'http://www.w3.org/2000/09/xmldsig#rsa-sha1',
        status: 'urn:oasis:names:tc:SAML:2.0:status:Responder',
        expectedAuthnContext: ['urn:mfa'],
        receivedAuthnContext: 'urn:password',
        assertionId: '_a1',
        methods: ['urn:oasis:names:tc:SAML:2.0:cm:holder-of-key', undefined],
        maxAgeSeconds: 300,
        expectedDestination: 'https://sp/acs',
        receivedDestination: 'https://other/acs',
        expectedRecipient: 'https://sp/acs',
        receivedRecipient: 'https://other/acs',
        expectedAudience: 'https://sp/metadata',
        receivedAudience: ['https://other/metadata'],
      },
    });
    const [entry] = await diagnostics.list('acme');
    expect(Object.keys(entry?.detail ?? {}).sort()).toEqual(
      [
        'algorithm', 'assertionId', 'clockDifferenceSeconds', 'configuredFingerprints', 'expectedAudience', 'expectedAuthnContext',
        'expectedDestination', 'expectedIssuer', 'expectedRecipient', 'maxAgeSeconds', 'methods', 'receivedAudience',
        'receivedAuthnContext', 'receivedDestination', 'receivedFingerprints', 'receivedIssuer', 'receivedRecipient', 'status',
      ].sort(),
    );
    expect(entry?.detail.methods).toEqual(['urn:oasis:names:tc:SAML:2.0:cm:holder-of-key', '(none)']);
    // Nothing personal in what is stored, not just in what is listed.
    const raw = JSON.stringify(await store.listRange(keys.samlDiagnostics('acme'), 10));
    for (const text of PERSONAL) expect(raw).not.toContain(text);
  });

  it('bounds attacker-controlled values and drops values of other types', () => {
    const detail = supportDetail({
      receivedIssuer: `urn:${'x'.repeat(2000)}`,
      receivedAudience: Array.from({ length: 50 }, (_, i) => `aud-${i}`),
      receivedDestination: 'https://evil\r\n.example/acs',
      clockDifferenceSeconds: Number.NaN,
      status: { nested: 'object' },
      assertionId: 42,
    });
    expect(String(detail.receivedIssuer).length).toBeLessThanOrEqual(513);
    expect(detail.receivedAudience).toHaveLength(10);
    expect(detail.receivedDestination).toBe('https://evil  .example/acs');
    expect(detail).not.toHaveProperty('clockDifferenceSeconds');
    expect(detail).not.toHaveProperty('status');
    expect(detail.assertionId).toBe(42);
  });

  it('caps the list and expires it after the TTL, renewed by each entry', async () => {
    let now = 1_000_000;
    const store = createMemoryStore({ now: () => now });
    const diagnostics = createSamlDiagnostics({ store, cap: 3, ttlSeconds: 60, now: () => now });
    for (let i = 0; i < 5; i += 1) await diagnostics.record('acme', { code: `saml.code_${i}` });
    expect((await diagnostics.list('acme')).map((e) => e.code)).toEqual(['saml.code_4', 'saml.code_3', 'saml.code_2']);
    expect(await store.ttl(keys.samlDiagnostics('acme'))).toBe(60);
    now += 61_000;
    expect(await diagnostics.list('acme')).toEqual([]);
  });

  it('defaults to 50 entries for 7 days', async () => {
    const store = createMemoryStore();
    const diagnostics = createSamlDiagnostics({ store });
    for (let i = 0; i < 55; i += 1) await diagnostics.record('acme', { code: 'saml.replay' });
    expect(await diagnostics.list('acme')).toHaveLength(50);
    expect(await store.ttl(keys.samlDiagnostics('acme'))).toBe(7 * 24 * 3600);
  });

  it('skips unreadable entries and filters stored detail again on the way out', async () => {
    const store = createMemoryStore();
    const key = keys.samlDiagnostics('acme');
    await store.pushCapped(key, 'not json', 50, 60);
    await store.pushCapped(key, JSON.stringify({ at: '2026-01-01T00:00:00.000Z', code: 'saml.replay', detail: { nameId: 'alice@acme.test', assertionId: '_a' } }), 50, 60);
    await store.pushCapped(key, JSON.stringify({ code: 'no time' }), 50, 60);
    const diagnostics = createSamlDiagnostics({ store });
    expect(await diagnostics.list('acme')).toEqual([{ at: '2026-01-01T00:00:00.000Z', code: 'saml.replay', detail: { assertionId: '_a' } }]);
  });

  it('refuses a cap or TTL that is not a positive integer', () => {
    const store = createMemoryStore();
    expect(() => createSamlDiagnostics({ store, cap: 0 })).toThrow(TypeError);
    expect(() => createSamlDiagnostics({ store, ttlSeconds: 1.5 })).toThrow(TypeError);
  });

  it('passes a store failure to the caller', async () => {
    const store = createMemoryStore();
    await store.set(keys.samlDiagnostics('acme'), 'a string, not a list');
    const diagnostics = createSamlDiagnostics({ store });
    await expect(diagnostics.record('acme', { code: 'saml.replay' })).rejects.toThrow(/WRONGTYPE/);
  });
});
