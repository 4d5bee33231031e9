import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, type JWK } from 'jose';

/** A private JWKS for signing tokens. */
export interface SigningJwks {
  keys: JWK[];
}

/**
 * Generate an RS256 and an ES256 signing key. Used by all-in-one mode when the configuration
 * gives none; tokens signed with them die with the process, which is what a demo wants.
 */
export async function generateSigningJwks(): Promise<SigningJwks> {
  const made = await Promise.all(
    (['RS256', 'ES256'] as const).map(async (alg) => {
      const { privateKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'RS256' ? { modulusLength: 2048 } : {}) });
      return { ...(await exportJWK(privateKey)), alg, use: 'sig', kid: randomUUID() };
    }),
  );
  return { keys: made };
}

/** Parse a private JWKS given in configuration; throws with a message naming what is wrong. */
export function parseSigningJwks(text: string): SigningJwks {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error('secrets.signingKeys: not valid JSON (expected a JWKS with private keys)');
  }
  const keys = (parsed as { keys?: unknown }).keys;
  if (!Array.isArray(keys) || keys.length === 0) throw new Error('secrets.signingKeys: expected {"keys": [...]} with at least one key');
  keys.forEach((key: unknown, i) => {
    const k = key as JWK;
    if (typeof k !== 'object' || k === null || typeof k.kty !== 'string' || typeof k.d !== 'string') {
      throw new Error(`secrets.signingKeys.keys.${i}: must be a private JWK (kty and d)`);
    }
  });
  return { keys: keys as JWK[] };
}
