import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CATEGORY_TITLES, explainSamlCode, SAML_MISCONFIGURATIONS } from './misconfigurations.ts';

/** Where `saml.*` codes are emitted: this lib and authn-service. */
const SOURCE_DIRS = ['../../saml/src', '../../authn/src'].map((dir) => fileURLToPath(new URL(dir, import.meta.url)));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    // Tests quote codes they expect; this catalogue quotes them all.
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') && entry.name !== 'misconfigurations.ts' ? [path] : [];
  });
}

/** Every 'saml.xxx' string literal in the sources, with the files that use it. */
function emittedCodes(): Map<string, string[]> {
  const codes = new Map<string, string[]>();
  for (const file of SOURCE_DIRS.flatMap(sourceFiles)) {
    for (const match of readFileSync(file, 'utf8').matchAll(/'(saml\.[a-z_]+)'/g)) {
      const code = match[1] ?? '';
      codes.set(code, [...(codes.get(code) ?? []), file]);
    }
  }
  return codes;
}

describe('SAML misconfiguration explanations', () => {
  const emitted = emittedCodes();

  it('finds the codes in the sources (the scan works)', () => {
    expect(emitted.size).toBeGreaterThan(40);
    expect(emitted.has('saml.audience_mismatch')).toBe(true);
    expect(emitted.has('saml.relay_state_unknown')).toBe(true);
  });

  it('explains every code the sources emit', () => {
    const missing = [...emitted.keys()].filter((code) => !Object.hasOwn(SAML_MISCONFIGURATIONS, code));
    expect(missing, `codes without an explanation in misconfigurations.ts: ${missing.map((code) => `${code} (${emitted.get(code)?.join(', ') ?? ''})`).join('; ')}`).toEqual([]);
  });

  it('explains no code that nothing emits (no stale entries)', () => {
    expect(Object.keys(SAML_MISCONFIGURATIONS).filter((code) => !emitted.has(code))).toEqual([]);
  });

  it('says in plain words what went wrong and where to change what', () => {
    for (const [code, explanation] of Object.entries(SAML_MISCONFIGURATIONS)) {
      expect(CATEGORY_TITLES[explanation.category], code).toBeDefined();
      expect(explanation.problem.length, code).toBeGreaterThan(20);
      expect(explanation.fix.length, code).toBeGreaterThan(20);
      // The fix names the place: the IdP, our configuration, or the person starting again / support.
      expect(explanation.fix, code).toMatch(/\bIdP\b|configuration|start|support/i);
    }
  });

  it("covers the set-up guides' common misconfigurations", () => {
    const byCategory = (category: string) => Object.entries(SAML_MISCONFIGURATIONS).filter(([, e]) => e.category === category).map(([code]) => code);
    expect(byCategory('entity_id_mismatch')).toEqual(expect.arrayContaining(['saml.audience_mismatch', 'saml.issuer_mismatch']));
    expect(byCategory('acs_url_wrong')).toEqual(expect.arrayContaining(['saml.destination_mismatch', 'saml.recipient_mismatch']));
    expect(byCategory('certificate')).toEqual(expect.arrayContaining(['saml.certificate_untrusted', 'saml.invalid_signature']));
    expect(byCategory('missing_claim')).toContain('saml.email_missing');
    expect(byCategory('tenant_mismatch')).toContain('saml.relay_state_mismatch');
    expect(byCategory('clock_skew')).toEqual(expect.arrayContaining(['saml.not_yet_valid', 'saml.expired']));
    expect(byCategory('replay_or_stale_login')).toContain('saml.replay');
    expect(byCategory('algorithm_policy')).toContain('saml.signature_algorithm_forbidden');
    expect(CATEGORY_TITLES.entity_id_mismatch).toBe('Entity ID mismatch');
    expect(CATEGORY_TITLES.acs_url_wrong).toBe('ACS URL wrong');
  });

  it('tells the admin what to change for an audience mismatch: the Identifier in the IdP', () => {
    const { problem, fix } = explainSamlCode('saml.audience_mismatch');
    expect(problem).toMatch(/another service provider/);
    expect(fix).toMatch(/In the IdP, set the application's Identifier \(Entity ID\)/);
  });

  it('answers an unknown code with a generic explanation', () => {
    expect(explainSamlCode('saml.something_new')).toMatchObject({ category: 'internal' });
    expect(explainSamlCode('toString')).toMatchObject({ category: 'internal' });
  });
});
