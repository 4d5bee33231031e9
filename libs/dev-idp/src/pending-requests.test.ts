import { describe, expect, it } from 'vitest';
import { createPendingRequests } from './pending-requests.ts';

const request = { requestId: '_r1', spEntityId: 'urn:sp', acsUrl: 'http://sp/acs' };

describe('pending requests', () => {
  it('can be peeked until taken, and taken once', () => {
    const pending = createPendingRequests(1000);
    const id = pending.add(request);
    expect(pending.peek(id)).toEqual(request);
    expect(pending.take(id)).toEqual(request);
    expect(pending.take(id)).toBeUndefined();
    expect(pending.peek(id)).toBeUndefined();
  });

  it('expire after the TTL', () => {
    let now = 0;
    const pending = createPendingRequests(1000, () => now);
    const id = pending.add(request);
    now = 999;
    expect(pending.peek(id)).toEqual(request);
    now = 1000;
    expect(pending.take(id)).toBeUndefined();
  });
});
