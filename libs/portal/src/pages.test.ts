import { describe, expect, it } from 'vitest';
import { isPortalOidcPath } from './auth-portal.ts';
import { consentPage, discoveryPage } from './pages.ts';

describe('portal pages', () => {
  it('escapes the client name and the error on the discovery page, and encodes the uid in the action', () => {
    const html = discoveryPage('uid/../x', '<img src=x onerror=alert(1)>', { message: 'No "org" <here>', reference: 'ref-<1>' });
    expect(html).not.toContain('<img');
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(html).toContain('No &quot;org&quot; &lt;here&gt;');
    expect(html).toContain('action="/interaction/uid%2F..%2Fx/discover"');
    expect(discoveryPage('u1', 'App')).not.toContain('class="error"');
  });

  it('escapes the client name and the scopes on the consent page', () => {
    const html = consentPage('u1', 'Evil <b>App</b>', ['openid', '<script>']);
    expect(html).not.toContain('<b>');
    expect(html).not.toContain('<script>');
    expect(html).toContain('<code>openid</code>, <code>&lt;script&gt;</code>');
    expect(html).toContain('action="/interaction/u1/consent"');
  });
});

describe('isPortalOidcPath', () => {
  it('matches the authorization and logout endpoints and their sub-paths only', () => {
    for (const path of ['/authorize', '/authorize/abc', '/logout', '/logout/confirm']) expect(isPortalOidcPath(path), path).toBe(true);
    for (const path of ['/authorizeX', '/token', '/jwks', '/userinfo', '/interaction/abc', '/', '/logoutx']) expect(isPortalOidcPath(path), path).toBe(false);
  });
});
