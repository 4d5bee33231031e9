/** Plain server-rendered pages. Every interpolated value goes through `escapeHtml`. */

const HTML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (ch) => HTML_ESCAPES[ch] ?? ch);
}

function page(title: string, body: string, nonce: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style nonce="${escapeHtml(nonce)}">
body { font-family: system-ui, sans-serif; max-width: 28rem; margin: 3rem auto; padding: 0 1rem; }
label, input, button { display: block; width: 100%; margin-top: .5rem; box-sizing: border-box; }
.banner { background: #fff3cd; padding: .5rem; font-size: .9rem; }
.error { color: #b00020; }
</style>
</head>
<body>
<p class="banner">Development identity provider. Demo accounts only; never use real credentials here.</p>
${body}
</body>
</html>
`;
}

export interface LoginPageInput {
  pendingId: string;
  spEntityId: string;
  nonce: string;
  error?: string;
  username?: string;
}

/** The login form. `action="login"` is relative so the app also works when mounted under a path. */
export function loginPage(input: LoginPageInput): string {
  const error = input.error ? `<p class="error" role="alert">${escapeHtml(input.error)}</p>` : '';
  return page(
    'Sign in - dev IdP',
    `<h1>Sign in</h1>
<p>Signing in to <strong data-testid="sp-entity-id">${escapeHtml(input.spEntityId)}</strong></p>
${error}
<form method="post" action="login">
<input type="hidden" name="pendingId" value="${escapeHtml(input.pendingId)}">
<label for="username">Username</label>
<input id="username" name="username" autocomplete="username" required autofocus value="${escapeHtml(input.username ?? '')}">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>`,
    input.nonce,
  );
}

export interface AutoPostPageInput {
  acsUrl: string;
  samlResponse: string;
  relayState?: string;
  nonce: string;
}

/** HTTP-POST binding delivery: a form posted by script, or by hand when scripts are off. */
export function autoPostPage(input: AutoPostPageInput): string {
  const relayState =
    input.relayState === undefined
      ? ''
      : `<input type="hidden" name="RelayState" value="${escapeHtml(input.relayState)}">\n`;
  return page(
    'Signing in - dev IdP',
    `<form method="post" action="${escapeHtml(input.acsUrl)}">
<input type="hidden" name="SAMLResponse" value="${escapeHtml(input.samlResponse)}">
${relayState}<p>Returning to the application.</p>
<button type="submit">Continue</button>
</form>
<script nonce="${escapeHtml(input.nonce)}">document.forms[0].submit();</script>`,
    input.nonce,
  );
}

export function errorPage(title: string, message: string, nonce: string): string {
  return page(title, `<h1>${escapeHtml(title)}</h1>\n<p>${escapeHtml(message)}</p>`, nonce);
}
