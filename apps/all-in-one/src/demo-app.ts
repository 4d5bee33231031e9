import { randomBytes } from 'node:crypto';
import express, { type Express } from 'express';
import * as oidc from 'openid-client';
import { escapeHtml, renderPage } from '@broker/http';

/**
 * A tiny relying party for the demo: the "app" a person signs in to. It is a native (public)
 * client using a loopback redirect, PKCE and openid-client, exactly as a mobile app would.
 */
export async function createDemoApp(options: { issuer: string; clientId: string; redirectUri: string }): Promise<{ app: Express; authorizationUrl: () => Promise<string> }> {
  // The broker signs ID tokens with ES256 unless a client asks for RS256.
  const configuration = await oidc.discovery(new URL(options.issuer), options.clientId, { id_token_signed_response_alg: 'ES256' }, oidc.None(), {
    // The demo broker runs on http://localhost; production issuers are https.
    execute: [oidc.allowInsecureRequests],
  });
  const pending = new Map<string, { verifier: string; expires: number }>();

  /** A fresh authorization URL (PKCE S256 + state), remembered for the callback. */
  const authorizationUrl = async (): Promise<string> => {
    const verifier = oidc.randomPKCECodeVerifier();
    const state = randomBytes(16).toString('base64url');
    pending.set(state, { verifier, expires: Date.now() + 10 * 60_000 });
    const url = oidc.buildAuthorizationUrl(configuration, {
      redirect_uri: options.redirectUri,
      scope: 'openid email profile',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
    });
    return url.href;
  };

  const app = express();
  app.get('/', (_req, res) => {
    res.type('html').send(renderPage('Demo app', '<p>You are not signed in.</p><p><a href="/login">Sign in with your work account</a></p>'));
  });
  app.get('/login', async (_req, res) => {
    res.redirect(303, await authorizationUrl());
  });
  // RP-initiated logout: the broker ends its session, then comes back to /signed-out.
  app.get('/logout', (_req, res) => {
    const url = oidc.buildEndSessionUrl(configuration, { client_id: options.clientId, post_logout_redirect_uri: options.redirectUri.replace(/\/callback$/, '/signed-out') });
    res.redirect(303, url.href);
  });
  app.get('/signed-out', (_req, res) => {
    res.type('html').send(renderPage('Demo app', '<p>You are signed out.</p><p><a href="/login">Sign in again</a></p>'));
  });

  app.get('/callback', async (req, res) => {
    const state = typeof req.query['state'] === 'string' ? req.query['state'] : '';
    const entry = pending.get(state);
    pending.delete(state);
    if (!entry || entry.expires < Date.now()) {
      res.status(400).type('html').send(renderPage('Demo app', '<p>Unknown or expired sign-in. <a href="/">Start again</a>.</p>'));
      return;
    }
    const current = new URL(req.originalUrl, options.redirectUri);
    try {
      const tokens = await oidc.authorizationCodeGrant(configuration, current, { pkceCodeVerifier: entry.verifier, expectedState: state });
      const claims = tokens.claims();
      const userinfo = claims ? await oidc.fetchUserInfo(configuration, tokens.access_token, claims.sub) : undefined;
      res.type('html').send(
        renderPage(
          'Demo app',
          `<p>Signed in as <strong>${escapeHtml(String(userinfo?.email ?? claims?.sub ?? 'unknown'))}</strong>.</p>
<h2>ID token claims</h2><pre>${escapeHtml(JSON.stringify(claims, null, 2))}</pre>
<h2>userinfo</h2><pre>${escapeHtml(JSON.stringify(userinfo, null, 2))}</pre>
<p><a href="/logout">Sign out</a> · <a href="/">Back</a></p>`,
        ),
      );
    } catch (error) {
      res.status(400).type('html').send(renderPage('Demo app', `<p>Sign-in failed: ${escapeHtml((error as Error).message)}</p>`));
    }
  });
  return { app, authorizationUrl };
}
