import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.ts';

const capture = () => {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ service: 'test', level: 'info', destination: { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) } });
  return { logger, lines };
};

describe('createLogger', () => {
  it('writes JSON lines carrying the service name', () => {
    const { logger, lines } = capture();
    logger.info({ requestId: 'r1' }, 'hello');
    expect(lines[0]).toMatchObject({ service: 'test', requestId: 'r1', msg: 'hello', level: 30 });
  });

  it('never writes secrets, SAML responses or tokens, at the top level or one level down', () => {
    const { logger, lines } = capture();
    const secrets = {
      password: 'p@ss',
      client_secret: 'cs-123',
      SAMLResponse: 'PHNhbWxw',
      access_token: 'at-123',
      refresh_token: 'rt-123',
      code_verifier: 'cv-123',
      body: { password: 'nested-pass', SAMLResponse: 'nested-saml', clientSecret: 'nested-cs' },
      req: { headers: { authorization: 'Bearer xyz', cookie: '_session=abc' } },
    };
    logger.warn(secrets, 'bad input');
    const line = JSON.stringify(lines[0]);
    for (const value of ['p@ss', 'cs-123', 'PHNhbWxw', 'at-123', 'rt-123', 'cv-123', 'nested-pass', 'nested-saml', 'nested-cs', 'Bearer xyz', '_session=abc']) {
      expect(line).not.toContain(value);
    }
    expect(line).toContain('[redacted]');
  });

  it('honours the level', () => {
    const lines: unknown[] = [];
    const logger = createLogger({ service: 'test', level: 'warn', destination: { write: (line: string) => void lines.push(line) } });
    logger.info('quiet');
    logger.warn('loud');
    expect(lines).toHaveLength(1);
  });
});
