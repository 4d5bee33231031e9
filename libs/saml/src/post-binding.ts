/** Minimal HTML escaping for attribute values (the saml lib does not depend on the http lib's pages). */
const escape = (value: string): string => value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * The HTTP-POST binding page: a form that carries the AuthnRequest to the IdP, submitted by a
 * nonce'd script, with a button for browsers without JavaScript.
 */
export function postBindingPage(action: string, fields: Record<string, string>, nonce: string): string {
  const inputs = Object.entries(fields)
    .filter(([, value]) => typeof value === 'string')
    .map(([name, value]) => `<input type="hidden" name="${escape(name)}" value="${escape(value)}">`)
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Signing in</title></head>
<body>
<form method="post" action="${escape(action)}">
${inputs}
<noscript><button type="submit">Continue to your sign-in page</button></noscript>
</form>
<script nonce="${escape(nonce)}">document.forms[0].submit();</script>
</body></html>`;
}
