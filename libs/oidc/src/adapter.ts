import { errors, type Adapter, type AdapterPayload } from 'oidc-provider';
import { keys, type Store } from '@broker/store';
import { currentRequest, type PrefetchingStore } from './request-reads.ts';

/** Models whose instances belong to a grant and must go when the grant is revoked. */
const GRANTABLE = new Set([
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'ClientCredentials',
  'BackchannelAuthenticationRequest',
]);

/** Tokens a request starts from (the code or refresh token at /token, the access token at userinfo). */
const TOKENS = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken']);

/**
 * Models oidc-provider saves again at the end of a request that loaded them, whether or not the
 * request changed them: a Session after every request that carried its cookie, a Grant at every
 * authorization. A request that was under way while the session was ended (logout, SAML Single
 * Logout) or the grant revoked would write it back. So an instance this request found is written
 * only while it still exists (see upsert).
 */
const ENDABLE = new Set(['Session', 'Grant']);
/** Attempts at writing over concurrent writers of the same Session or Grant before giving up. */
const ENDABLE_WRITE_ATTEMPTS = 5;

/** What each oidc-provider request found of ENDABLE models: key -> the stored value read. */
const foundByRequest = new WeakMap<object, Map<string, string>>();
/**
 * Requests whose Session was ended (a logout, a Single Logout) while they ran: found, gone when
 * oidc-provider came to destroy it, and remembered as ended (keys.oidcSessionEnded; a session
 * another tab's resume renamed is gone too, but not ended). oidc-provider renames a session at a
 * resumed authorization (a new id, the old one destroyed), so without this the ended session
 * would be written back under its new id.
 */
const sessionEndedInRequest = new WeakSet<object>();
/** How long an ended session is remembered (keys.oidcSessionEnded): longer than any request. */
const ENDED_SESSION_MEMORY_SECONDS = 600;
/** Remember that a session was ended (keys.oidcSessionEnded), for the requests still under way. */
const markSessionEnded = (store: Store, sessionId: string): Promise<void> => store.set(keys.oidcSessionEnded(sessionId), '1', { ttlSeconds: ENDED_SESSION_MEMORY_SECONDS });
/** The oidc-provider route a request is for ('resume', 'end_session_confirm', ...). */
const routeOf = (ctx: object): string | undefined => (ctx as { oidc?: { route?: string } }).oidc?.route;
/** The request finishes a login (an interaction result with one): its session is a new sign-in. */
const signsIn = (ctx: object): boolean => (ctx as { oidc?: { result?: { login?: unknown } } }).oidc?.result?.login !== undefined;

/**
 * What oidc-provider (and the broker's findAccount) read right after loading a token: its
 * session's uid index (the session check, then acr and amr), its grant, and its user's record;
 * after loading a finished interaction (the resumed authorization), its user's record.
 */
function readsAfter(model: string, payload: AdapterPayload): string[] {
  if (model === 'Interaction') {
    const accountId = (payload.result as { login?: { accountId?: unknown } } | undefined)?.login?.accountId;
    return typeof accountId === 'string' ? [keys.user(accountId)] : [];
  }
  if (!TOKENS.has(model)) return [];
  return [
    ...(typeof payload.sessionUid === 'string' ? [keys.oidcUid(payload.sessionUid)] : []),
    ...(typeof payload.grantId === 'string' ? [keys.oidcModel('Grant', payload.grantId)] : []),
    ...(typeof payload.accountId === 'string' ? [keys.user(payload.accountId)] : []),
  ];
}

/**
 * oidc-provider's persistence, on the storage port. One class per process, bound to a store;
 * oidc-provider instantiates it once per model name.
 *
 * `consume` is atomic: oidc-provider itself checks `consumed` and then marks the code, which lets
 * two concurrent redemptions of one code both pass the check. Here the mark is a compare-and-set
 * in the store, so exactly one redemption wins; the losers get invalid_grant and, as RFC 6749
 * section 4.1.2 asks, the grant (and every token issued from it) is revoked.
 */
export function createStoreAdapter(store: Store | PrefetchingStore): new (model: string) => Adapter & { readonly model: string } {
  return class StoreAdapter implements Adapter {
    readonly model: string;

    constructor(model: string) {
      this.model = model;
    }

    private key(id: string): string {
      return keys.oidcModel(this.model, id);
    }

    async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
      // No expiresIn (a Client) means no expiry. A lifetime of zero or less (an Interaction
      // persisted at its last second) is already over: it gets the shortest TTL, never none.
      const ttl = expiresIn === undefined ? {} : { ttlSeconds: Math.max(1, Math.ceil(expiresIn)) };
      const key = this.key(id);
      // The instance and its indexes are written at once: one socket write and one round trip
      // to Redis (the Redis store sends a tick's commands together). They are sent in this order,
      // but nothing makes them all-or-nothing: a failed write of the instance can leave its
      // indexes behind. Readers of the indexes (findByUid,
      // endSessionsOf, revokeGrant) cope with a missing instance, and the indexes expire.
      const value = JSON.stringify(payload);
      const ctx = currentRequest();
      const found = ENDABLE.has(this.model) && ctx !== undefined ? foundByRequest.get(ctx)?.get(key) : undefined;
      // The session this request began with was ended meanwhile, and this is its renamed copy
      // (not a new sign-in): it stays ended, indexes included.
      if (this.model === 'Session' && found === undefined && ctx !== undefined && sessionEndedInRequest.has(ctx) && !signsIn(ctx)) return;
      const writes: Promise<unknown>[] = [found === undefined || ctx === undefined ? store.set(key, value, ttl) : this.writeWhileExists(ctx, key, found, value, ttl)];
      if (GRANTABLE.has(this.model) && payload.grantId) {
        // The index lives at least as long as its longest member.
        writes.push(store.addToSet(keys.oidcGrantIndex(payload.grantId), key, Math.max(1, Math.ceil(expiresIn || 1_209_600))));
      }
      if (this.model === 'Session' && payload.uid) writes.push(store.set(keys.oidcUid(payload.uid), id, ttl));
      if (this.model === 'Session' && typeof payload.accountId === 'string' && payload.accountId) {
        // For endSessionsOf (SAML Single Logout): the index lives at least as long as the session.
        writes.push(store.addToSet(keys.oidcSessionsByAccount(payload.accountId), id, Math.max(1, Math.ceil(expiresIn || 1_209_600))));
      }
      if (payload.userCode) writes.push(store.set(keys.oidcUserCode(payload.userCode), id, ttl));
      // The indexes go out with the instance (one round trip); when the instance was ended
      // meanwhile and is not written, they point at nothing, which their readers expect.
      await Promise.all(writes);
    }

    /**
     * Write `value` over what this request found, or over a concurrent request's write, but not
     * once the instance is gone: a session ended or a grant revoked while this request ran stays
     * ended. Each attempt is one compare-and-set; a lost race reads again.
     */
    private async writeWhileExists(ctx: object, key: string, found: string, value: string, ttl: { ttlSeconds?: number }): Promise<void> {
      let expected: string | null = found;
      for (let attempt = 0; attempt < ENDABLE_WRITE_ATTEMPTS; attempt++) {
        if (await store.compareAndSet(key, expected, value, ttl)) {
          // A second save in this request writes over this one.
          foundByRequest.get(ctx)?.set(key, value);
          return;
        }
        expected = await store.get(key);
        if (expected === null) return;
      }
      // Other requests kept writing it: theirs stands (as a later write of theirs would have).
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      const value = await store.get(this.key(id));
      if (value === null) return undefined;
      const payload = JSON.parse(value) as AdapterPayload;
      const ctx = currentRequest();
      if (ENDABLE.has(this.model) && ctx !== undefined) {
        let found = foundByRequest.get(ctx);
        if (!found) {
          found = new Map();
          foundByRequest.set(ctx, found);
        }
        found.set(this.key(id), value);
      }
      // A token's session, grant and user are read next, one after another: start them together
      // (a prefetching store does, within an oidc-provider request).
      if ('prefetch' in store) store.prefetch(readsAfter(this.model, payload));
      return payload;
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      const id = await store.get(keys.oidcUid(uid));
      return id === null ? undefined : this.find(id);
    }

    async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      const id = await store.get(keys.oidcUserCode(userCode));
      return id === null ? undefined : this.find(id);
    }

    async destroy(id: string): Promise<void> {
      const key = this.key(id);
      const deleted = await store.delete(key);
      const ctx = currentRequest();
      if (this.model === 'Session' && ctx !== undefined) {
        if (deleted > 0 && routeOf(ctx) !== 'resume') {
          // A logout (not the rename a resumed authorization does): remembered for the requests
          // of this browser still under way.
          await markSessionEnded(store, id);
        } else if (deleted === 0 && foundByRequest.get(ctx)?.has(key) && (await store.get(keys.oidcSessionEnded(id))) !== null) {
          // Found by this request, and ended since by a logout (not renamed by another tab).
          sessionEndedInRequest.add(ctx);
        }
      }
      // oidc-provider destroys an Interaction when it resumes the authorization, and goes on to
      // issue a code whether or not it was still there: two resumes of one finished interaction
      // at once (a double click, a retry) would each issue a code. Only the one that deleted it
      // goes on.
      if (this.model === 'Interaction' && deleted === 0) throw new errors.SessionNotFound('interaction already resumed');
    }

    async consume(id: string): Promise<void> {
      const key = this.key(id);
      const result = await store.consumeJson(key, Math.floor(Date.now() / 1000));
      if (result === 'consumed') return;
      if (result === 'already-consumed') {
        const payload = await this.find(id);
        if (payload?.grantId) await revokeGrant(store, payload.grantId);
        throw new errors.InvalidGrant(`${this.model === 'AuthorizationCode' ? 'authorization code' : 'grant source'} already consumed`);
      }
      throw new errors.InvalidGrant('grant source not found');
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      await revokeGrant(store, grantId);
    }
  };
}

async function revokeGrant(store: Store, grantId: string): Promise<void> {
  const indexKeys = [keys.oidcGrantIndex(grantId), keys.legacyOidcGrantIndex(grantId)];
  const members = (await Promise.all(indexKeys.map((key) => store.members(key)))).flat();
  // The Grant itself, every token issued under it, and the indexes. One key per call: they may
  // sit in different Redis Cluster slots.
  await Promise.all([...new Set(members), keys.oidcModel('Grant', grantId), ...indexKeys].map((key) => store.delete(key)));
}

/**
 * End every oidc-provider Session of an account (the broker user id): the Session instances,
 * their uid lookups and their index entries. Used by SAML Single Logout (IdP-initiated). Grants and the
 * tokens already issued to apps are not revoked here: apps learn of the logout at their next
 * authorization request, which finds no session. Returns how many sessions were ended.
 */
export async function endSessionsOf(store: Store, accountId: string): Promise<number> {
  const indexKey = keys.oidcSessionsByAccount(accountId);
  const legacyKey = keys.legacyOidcSessionsByAccount(accountId);
  const [current, legacy] = await Promise.all([store.members(indexKey), store.members(legacyKey)]);
  const ids = [...new Set([...current, ...legacy])];
  let ended = 0;
  // One key per call: they may sit in different Redis Cluster slots.
  await Promise.all(
    ids.map(async (id) => {
      const key = keys.oidcModel('Session', id);
      const value = await store.get(key);
      if (value === null) return;
      const payload = JSON.parse(value) as AdapterPayload;
      // The index may name a session that has since been reused by another account: leave it.
      if (payload.accountId !== undefined && payload.accountId !== accountId) return;
      const removals = [store.delete(key), markSessionEnded(store, id)];
      if (typeof payload.uid === 'string') removals.push(store.delete(keys.oidcUid(payload.uid)));
      await Promise.all(removals);
      ended += 1;
    }),
  );
  // Only the members read: a session saved for this account meanwhile (a login finishing now)
  // keeps its entry, so the next Single Logout still finds it.
  await Promise.all([store.removeFromSet(indexKey, ...current), store.removeFromSet(legacyKey, ...legacy)]);
  return ended;
}
