/**
 * Redirect URI rules per client kind, checked when a client is registered (configuration import,
 * later the admin API) and again whenever oidc-provider loads the client. RFC 8252 for native
 * apps; https everywhere else, with http on a loopback host only in development mode.
 */
export type ClientKind = 'native' | 'spa' | 'backend';

export interface RedirectRuleOptions {
  /** Development mode: web clients may use http on a loopback host (localhost, 127.0.0.1, [::1]). */
  development: boolean;
}

const LOOPBACK_IP = new Set(['127.0.0.1', '[::1]']);
/** RFC 8252 section 7.1: a private-use scheme in reverse domain name form, e.g. com.example.app. */
const REVERSE_DOMAIN_SCHEME = /^[a-z][a-z0-9-]*(\.[a-z0-9-]+)+$/;

/** Why a redirect URI is refused for this kind of client, or undefined when it is fine. */
export function redirectUriProblem(kind: ClientKind, uri: string, options: RedirectRuleOptions): string | undefined {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return 'is not an absolute URI';
  }
  if (url.hash) return 'must not contain a fragment';
  if (url.username || url.password) return 'must not contain credentials';
  const scheme = url.protocol.slice(0, -1);
  if (kind === 'native') {
    if (scheme === 'https') return undefined; // claimed https redirect (App Links / Universal Links)
    if (scheme === 'http') {
      if (url.hostname === 'localhost') return "must use a loopback IP literal (127.0.0.1 or [::1]), not 'localhost' (RFC 8252 section 8.3)";
      if (!LOOPBACK_IP.has(url.hostname)) return 'http is only allowed on a loopback IP literal (127.0.0.1 or [::1])';
      return undefined;
    }
    if (!REVERSE_DOMAIN_SCHEME.test(scheme)) return `private-use scheme '${scheme}' must be in reverse domain name form, e.g. com.example.app (RFC 8252 section 7.1)`;
    return undefined;
  }
  if (scheme === 'https') return undefined;
  if (scheme === 'http' && options.development && (url.hostname === 'localhost' || LOOPBACK_IP.has(url.hostname))) return undefined;
  return options.development ? 'must use https (http only on a loopback host in development mode)' : 'must use https';
}

/** Every problem of a client's redirect URIs, as `field: message` lines (empty when fine). */
export function redirectUriProblems(kind: ClientKind, uris: readonly string[], options: RedirectRuleOptions, field = 'redirectUris'): string[] {
  return uris.flatMap((uri, i) => {
    const problem = redirectUriProblem(kind, uri, options);
    return problem === undefined ? [] : [`${field}.${i} (${uri}): ${problem}`];
  });
}

/** CORS origins are for SPAs only, and must be bare origins (scheme, host, port). */
export function corsOriginProblem(origin: string, options: RedirectRuleOptions): string | undefined {
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return 'is not an origin';
  }
  if (url.origin !== origin) return `must be a bare origin such as ${url.origin}`;
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:' && options.development && (url.hostname === 'localhost' || LOOPBACK_IP.has(url.hostname))) return undefined;
  return 'must use https';
}
