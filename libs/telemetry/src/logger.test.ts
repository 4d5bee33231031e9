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

  it('keeps only the name of a failed store command on an error (its args are the stored data)', () => {
    const { logger, lines } = capture();
    // The shape ioredis gives a failed command's error (ReplyError: `command: { name, args }`).
    const failed = Object.assign(new Error('OOM command not allowed when used memory > maxmemory'), {
      command: { name: 'evalsha', args: ['1dc4', '1', 'broker:user:80c8', '{"email":"alice@acme.test","givenName":"Alice"}'] },
    });
    logger.error({ err: new Error('login failed', { cause: failed }) }, 'unhandled error');
    logger.error({ err: failed }, 'unhandled error');
    logger.error({ error: { command: failed.command } }, 'unhandled error');
    for (const line of lines) {
      const text = JSON.stringify(line);
      expect(text).not.toContain('alice@acme.test');
      expect(text).not.toContain('broker:user:80c8');
    }
    expect(lines[1]).toMatchObject({ err: { message: 'OOM command not allowed when used memory > maxmemory', command: { name: 'evalsha' } } });
    expect(lines[2]).toMatchObject({ error: { command: { name: 'evalsha' } } });
  });

  it('honours the level', () => {
    const lines: unknown[] = [];
    const logger = createLogger({ service: 'test', level: 'warn', destination: { write: (line: string) => void lines.push(line) } });
    logger.info('quiet');
    logger.warn('loud');
    expect(lines).toHaveLength(1);
  });
});
