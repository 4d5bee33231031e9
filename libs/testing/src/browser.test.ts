import { describe, expect, it } from 'vitest';
import { parseForm } from './browser.ts';

describe('parseForm', () => {
  const page = `<form method="post" action="/interaction/abc/discover"><input name="email" value=""></form>
<form method="POST" action="https://idp.test/login"><input type="hidden" name="RelayState" value="a&amp;b&quot;c"><input name="pendingId" value='x1'></form>`;

  it('reads the first form, resolving its action against the page URL', () => {
    expect(parseForm(page, 'http://broker.test/interaction/abc')).toEqual({ action: 'http://broker.test/interaction/abc/discover', method: 'POST', fields: { email: '' } });
  });

  it('picks a form by action and decodes entity-escaped values', () => {
    expect(parseForm(page, 'http://broker.test/', 'idp.test')).toEqual({ action: 'https://idp.test/login', method: 'POST', fields: { RelayState: 'a&b"c', pendingId: 'x1' } });
  });

  it('says so when there is no such form', () => {
    expect(() => parseForm(page, 'http://broker.test/', 'nowhere')).toThrow(/no form with action containing nowhere/);
  });
});
