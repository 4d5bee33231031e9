import { describe, expect, it } from 'vitest';
import { upstreamFor } from './routes.ts';

describe('dev proxy routing', () => {
  it('sends the token endpoints and discovery to token-service', () => {
    for (const path of ['/token', '/token/introspection', '/token/revocation', '/par', '/jwks', '/userinfo', '/.well-known/openid-configuration']) {
      expect(upstreamFor(path)).toBe('token');
    }
  });
  it('sends SAML routes to authn-service', () => {
    expect(upstreamFor('/saml/acme-dev-idp/acs')).toBe('authn');
    expect(upstreamFor('/saml/acme-dev-idp/metadata')).toBe('authn');
  });
  it('sends authorization, interactions and everything else to the portal', () => {
    expect(upstreamFor('/authorize')).toBe('portal');
    expect(upstreamFor('/interaction/abc/complete')).toBe('portal');
    expect(upstreamFor('/samlx')).toBe('portal');
    expect(upstreamFor('/tokens')).toBe('portal');
  });
});
