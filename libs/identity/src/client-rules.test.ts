import { describe, expect, it } from 'vitest';
import { corsOriginProblem, redirectUriProblem } from './client-rules.ts';

const prod = { development: false };
const dev = { development: true };

describe('native redirect URIs (RFC 8252)', () => {
  it('accepts a reverse-domain private-use scheme, a claimed https URI and a loopback IP literal', () => {
    expect(redirectUriProblem('native', 'com.example.app:/oauth2redirect', prod)).toBeUndefined();
    expect(redirectUriProblem('native', 'https://app.example.com/callback', prod)).toBeUndefined();
    expect(redirectUriProblem('native', 'http://127.0.0.1/callback', prod)).toBeUndefined();
    expect(redirectUriProblem('native', 'http://[::1]:8765/callback', prod)).toBeUndefined();
  });
  it("refuses 'localhost', other http hosts and schemes that are not reverse-domain", () => {
    expect(redirectUriProblem('native', 'http://localhost/callback', dev)).toMatch(/not 'localhost'/);
    expect(redirectUriProblem('native', 'http://example.com/callback', prod)).toMatch(/loopback IP literal/);
    expect(redirectUriProblem('native', 'myapp://callback', prod)).toMatch(/reverse domain/);
  });
  it('refuses fragments and credentials', () => {
    expect(redirectUriProblem('native', 'https://app.example.com/cb#x', prod)).toMatch(/fragment/);
    expect(redirectUriProblem('native', 'https://u:p@app.example.com/cb', prod)).toMatch(/credentials/);
  });
});

describe('SPA and backend redirect URIs', () => {
  it('require https, with http on loopback in development mode only', () => {
    for (const kind of ['spa', 'backend'] as const) {
      expect(redirectUriProblem(kind, 'https://app.example.com/cb', prod)).toBeUndefined();
      expect(redirectUriProblem(kind, 'http://localhost:8080/cb', prod)).toMatch(/https/);
      expect(redirectUriProblem(kind, 'http://localhost:8080/cb', dev)).toBeUndefined();
      expect(redirectUriProblem(kind, 'http://app.example.com/cb', dev)).toMatch(/https/);
      expect(redirectUriProblem(kind, 'com.example.app:/cb', prod)).toMatch(/https/);
    }
  });
});

describe('CORS origins', () => {
  it('must be bare https origins', () => {
    expect(corsOriginProblem('https://app.example.com', prod)).toBeUndefined();
    expect(corsOriginProblem('https://app.example.com/', prod)).toMatch(/bare origin/);
    expect(corsOriginProblem('http://localhost:5173', prod)).toMatch(/https/);
    expect(corsOriginProblem('http://localhost:5173', dev)).toBeUndefined();
  });
});
