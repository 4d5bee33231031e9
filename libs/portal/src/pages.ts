import { escapeHtml, renderPage } from '@broker/http';

/** Home-realm discovery: ask for the work email when nothing in the request names the tenant. */
export function discoveryPage(uid: string, clientName: string, error?: { message: string; reference: string }): string {
  return renderPage(
    'Sign in',
    `<p>Sign in to <strong>${escapeHtml(clientName)}</strong> with your work account.</p>
${error ? `<p class="error">${escapeHtml(error.message)}</p>\n<p class="ref">If you contact support, give them this reference: <code>${escapeHtml(error.reference)}</code></p>` : ''}
<form method="post" action="/interaction/${encodeURIComponent(uid)}/discover">
<label for="email">Work email</label>
<input id="email" name="email" type="email" autocomplete="username" required autofocus>
<button type="submit">Continue</button>
</form>`,
  );
}

/** Consent for third-party clients (first-party clients never see it). */
export function consentPage(uid: string, clientName: string, scopes: string[]): string {
  return renderPage(
    'Allow access?',
    `<p><strong>${escapeHtml(clientName)}</strong> asks to use your account: ${scopes.map((s) => `<code>${escapeHtml(s)}</code>`).join(', ')}.</p>
<form method="post" action="/interaction/${encodeURIComponent(uid)}/consent">
<button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny">Deny</button>
</form>`,
  );
}

/**
 * An IdP-initiated login about to finish an app's sign-in: the person confirms who is signing
 * in. Nothing in SAML ties an unsolicited response to the browser that posts it, so a page of
 * someone else's could have posted theirs (login CSRF); here the person sees the name and can
 * say it is not theirs. "Continue" finishes the interaction with the login result held for it;
 * "This is not me" throws that result away and goes back to the sign-in page.
 */
export function confirmLoginPage(uid: string, resultId: string, clientName: string, who: string, organization: string): string {
  return renderPage(
    'Continue?',
    `<p>Continue to <strong>${escapeHtml(clientName)}</strong> as <strong>${escapeHtml(who)}</strong> of <strong>${escapeHtml(organization)}</strong>?</p>
<form method="get" action="/interaction/${encodeURIComponent(uid)}/complete">
<input type="hidden" name="result" value="${escapeHtml(resultId)}">
<button type="submit">Continue</button>
</form>
<form method="post" action="/interaction/${encodeURIComponent(uid)}/not-me">
<input type="hidden" name="result" value="${escapeHtml(resultId)}">
<button type="submit">This is not me: sign in with my own account</button>
</form>`,
  );
}

/** The connection picker, for tenants with several IdP connections. */
export function pickerPage(uid: string, tenantName: string, connections: ReadonlyArray<{ id: string; name: string }>, tenantId?: string): string {
  return renderPage(
    'Choose how to sign in',
    `<p><strong>${escapeHtml(tenantName)}</strong> has more than one way to sign in.</p>
<form method="post" action="/interaction/${encodeURIComponent(uid)}/connection">
${tenantId ? `<input type="hidden" name="tenant" value="${escapeHtml(tenantId)}">` : ''}
${connections.map((c) => `<button type="submit" name="connection" value="${escapeHtml(c.id)}">${escapeHtml(c.name)}</button>`).join('\n')}
</form>`,
  );
}
