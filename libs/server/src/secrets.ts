import { randomBytes } from 'node:crypto';
import { ConfigError, type ResolvedConfig } from '@broker/config';
import { generateSigningJwks, parseSigningJwks, type SigningJwks } from '@broker/oidc';
import type { Logger } from '@broker/telemetry';

export type RunMode = 'all-in-one' | 'split';

export interface BrokerSecrets {
  signingKeys: SigningJwks;
  cookieKeys: string[];
}

/**
 * Signing keys and cookie keys from the configuration. In all-in-one mode missing ones are
 * generated (and the log says so); in split mode every process must share them, so they are
 * required.
 */
export async function resolveSecrets(config: ResolvedConfig, mode: RunMode, logger: Logger): Promise<BrokerSecrets> {
  const given = config.secrets;
  if (mode === 'split') {
    if (!given.signingKeys) throw new ConfigError('secrets.signingKeys: required in split mode (every process must sign and verify with the same keys)');
    if (!given.cookieKeys?.length) throw new ConfigError('secrets.cookieKeys: required in split mode (the portal and token service share cookies)');
  }
  let signingKeys: SigningJwks;
  try {
    signingKeys = given.signingKeys ? parseSigningJwks(given.signingKeys) : await generateSigningJwks();
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
  if (!given.signingKeys) logger.warn('no secrets.signingKeys configured: generated ephemeral signing keys (tokens die with this process)');
  const cookieKeys = given.cookieKeys?.length ? given.cookieKeys : [randomBytes(32).toString('base64url')];
  if (!given.cookieKeys?.length) logger.warn('no secrets.cookieKeys configured: generated an ephemeral cookie key');
  return { signingKeys, cookieKeys };
}
