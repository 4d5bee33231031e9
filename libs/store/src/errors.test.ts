import { describe, expect, it } from 'vitest';
import { isRedisUnavailability, StoreUnavailableError } from './errors.ts';

const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });

describe('isRedisUnavailability', () => {
  it('counts what says "cannot serve now": no connection, timeouts, out of memory, read-only, loading', () => {
    for (const error of [
      new Error('Connection is closed.'),
      new Error('Command timed out'),
      Object.assign(new Error('Reached the max retries per request limit (which is 1).'), { name: 'MaxRetriesPerRequestError' }),
      withCode('connect ECONNREFUSED 127.0.0.1:6379', 'ECONNREFUSED'),
      new Error("OOM command not allowed when used memory > 'maxmemory'."),
      new Error("READONLY You can't write against a read only replica."),
      new Error('LOADING Redis is loading the dataset in memory'),
      new Error('CLUSTERDOWN The cluster is down'),
    ]) {
      expect(isRedisUnavailability(error), error.message).toBe(true);
    }
  });

  it('leaves wrong commands alone: they are bugs, not outages', () => {
    for (const error of [new Error('WRONGTYPE Operation against a key holding the wrong kind of value'), new Error('ERR syntax error'), new TypeError('ttlSeconds must be a positive integer'), 'not an error']) {
      expect(isRedisUnavailability(error)).toBe(false);
    }
  });

  it('is a 503 temporarily_unavailable for express and oidc-provider, with what failed as its cause', () => {
    const cause = new Error('Connection is closed.');
    const error = new StoreUnavailableError(cause);
    expect(error).toMatchObject({ status: 503, statusCode: 503, expose: true, message: 'temporarily_unavailable', error: 'temporarily_unavailable' });
    expect(error.cause).toBe(cause);
  });
});
