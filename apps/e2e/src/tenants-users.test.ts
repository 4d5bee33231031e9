// End to end, split mode on Redis: what each connection setting does to the user an app gets.
// Four tenants on the dev IdP: user ID from an attribute, Create Users off, the Azure preset
// against the dev IdP's Entra ID profile; claims (acr, amr, email_verified, role) from a login.
import * as oidc from 'openid-client';
import { describe, expect, it } from 'vitest';
import { persistentId } from '@broker/dev-idp';
import { createUserRepository } from '@broker/identity';
import {
  devIdpConnection,
  devIdpUser,
  Journey,
  loggedRejections,
  loginThrough,
  loginToAcs,
  MULTIPLE_AUTHN,
  NAMEID_PERSISTENT,
  PASSWORD_PROTECTED_TRANSPORT,
  personOf,
  redeem,
  useBrokerStore,
} from './federation-support.ts';
import { ALICE, authorizationRequest, discover, ES256_CLIENT, loopbackRedirectUri, skipWithoutRedis, useSplitCluster, type Person } from './support.ts';

const CLIENT_ID = 'e2e-tenants';
// Globex: the IdP's stable `uid` attribute is the user ID; two dev IdP accounts carry the same
// uid, standing for one person whose surname changed at the IdP between two logins.
const GINA = devIdpUser('gina', 'globex.test', { givenName: 'Gina', surname: 'Garcia' }, { attributes: { uid: 'g-1001', role: 'admin' } });
const GINA_RENAMED = devIdpUser('gina-renamed', 'globex.test', { givenName: 'Gina', surname: 'Garcia-Lopez' }, { email: 'gina@globex.test', attributes: { uid: 'g-1001', role: 'admin' } });
// Initech: one connection with Create Users off, one with it on.
const IVAN = devIdpUser('ivan', 'initech.test', { givenName: 'Ivan', surname: 'Ivanov' });
const IDA = devIdpUser('ida', 'initech.test', { givenName: 'Ida', surname: 'Ingram' });
// Contoso: Entra ID (the dev IdP's azure profile), MFA.
const CHRIS = devIdpUser('chris', 'contoso.test', { givenName: 'Chris', surname: 'Cole' }, { authnContextClassRef: MULTIPLE_AUTHN });

describe.skipIf(skipWithoutRedis())('tenants: user ID, Create Users, names, presets and claims, end to end', () => {
  const handle = useSplitCluster({
    tenants: (context) => [
      { id: 'acme', displayName: 'Acme Corporation', emailDomains: ['acme.test'], connections: [devIdpConnection(context, { id: 'acme-dev-idp' })] },
      {
        id: 'globex',
        displayName: 'Globex',
        emailDomains: ['globex.test'],
        connections: [devIdpConnection(context, { id: 'globex-dev-idp', userIdLocation: 'attribute', userIdAttribute: 'uid', emailVerified: true, attributes: { accessProfile: 'role' } })],
      },
      {
        id: 'initech',
        displayName: 'Initech',
        emailDomains: ['initech.test'],
        defaultRole: 'viewer',
        connections: [devIdpConnection(context, { id: 'initech-closed', createUsers: false }), devIdpConnection(context, { id: 'initech-open' })],
      },
      {
        id: 'contoso',
        displayName: 'Contoso',
        emailDomains: ['contoso.test'],
        connections: [devIdpConnection(context, { id: 'contoso-entra', preset: 'azure', nameIdFormat: NAMEID_PERSISTENT })],
      },
    ],
    devIdpAttributeProfiles: { 'contoso-entra': 'azure' },
    devIdpUsers: [{ ...ALICE, givenName: 'Alice', surname: 'Anderson' }, GINA, GINA_RENAMED, IVAN, IDA, CHRIS],
    clients: [{ clientId: CLIENT_ID, displayName: 'E2E tenants app', kind: 'native', redirectUris: ['http://127.0.0.1/callback'], allowedTenants: ['acme', 'globex', 'initech', 'contoso'] }],
  });

  const store = useBrokerStore(handle);

  /** A login with login_hint (and idp_hint), through `connectionId`, to the code at the redirect URI. */
  const loginToCallback = async (user: Person, connectionId: string, idpHint?: string) => {
    const cluster = handle.cluster();
    const config = await discover(cluster, CLIENT_ID, undefined, ES256_CLIENT);
    const request = await authorizationRequest(config, loopbackRedirectUri(), { login_hint: user.email, ...(idpHint ? { idp_hint: idpHint } : {}) });
    const { callback } = await loginThrough(cluster, request, user, { connectionId });
    return { config, request, callback };
  };
  /** The same, and the ID token's claims. */
  const login = async (user: Person, connectionId: string, idpHint?: string) => {
    const { config, request, callback } = await loginToCallback(user, connectionId, idpHint);
    return (await redeem(config, callback, request)).claims;
  };

  it('user ID from an attribute (uid): the same uid is the same user, whose names are updated at the next login', async () => {
    const first = await login(personOf(GINA), 'globex-dev-idp');
    expect(first).toMatchObject({ tenant: 'globex', email: 'gina@globex.test', given_name: 'Gina', family_name: 'Garcia', name: 'Gina Garcia', role: 'admin' });
    // Matched by (tenant, federation id, uid), not by NameID or email.
    expect(await handle.redisKeys('user-by-id:{globex}:*')).toEqual(['user-by-id:{globex}:federationId:g-1001']);

    const second = await login(personOf(GINA_RENAMED), 'globex-dev-idp');
    expect(second.sub).toBe(first.sub);
    expect(second).toMatchObject({ family_name: 'Garcia-Lopez', name: 'Gina Garcia-Lopez', role: 'admin' });
    expect(await handle.redisKeys('user-by-id:{globex}:*')).toHaveLength(1);
  });

  it('email_verified is true only where the connection sets emailVerified', async () => {
    const gina = await login(personOf(GINA), 'globex-dev-idp');
    expect(gina['email_verified']).toBe(true);
    const alice = await login(ALICE, 'acme-dev-idp');
    expect(alice['email_verified']).toBe(false);
  });

  /** The authorization code's record (oidc-provider's, in Redis): what the login recorded for the tokens. */
  const codeRecord = async (callback: URL): Promise<Record<string, unknown>> => {
    const raw = await store().get(`oidc:AuthorizationCode:${callback.searchParams.get('code') ?? ''}`);
    expect(raw, 'the authorization code record').not.toBeNull();
    return JSON.parse(raw ?? '{}') as Record<string, unknown>;
  };

  it('the AuthnContext becomes the login’s acr and amr: PasswordProtectedTransport is ["pwd"], Entra ID’s multipleauthn is ["mfa"]', async () => {
    const alice = await loginToCallback(ALICE, 'acme-dev-idp');
    expect(await codeRecord(alice.callback)).toMatchObject({ acr: PASSWORD_PROTECTED_TRANSPORT, amr: ['pwd'] });
    const chris = await loginToCallback(personOf(CHRIS), 'contoso-entra');
    expect(await codeRecord(chris.callback)).toMatchObject({ acr: MULTIPLE_AUTHN, amr: ['mfa'] });
  });

  it('the ID token and userinfo carry acr and amr from the AuthnContext', async () => {
    const alice = await loginToCallback(ALICE, 'acme-dev-idp');
    const { tokens, claims } = await redeem(alice.config, alice.callback, alice.request);
    expect(claims).toMatchObject({ acr: PASSWORD_PROTECTED_TRANSPORT, amr: ['pwd'] });
    const userinfo = await oidc.fetchUserInfo(alice.config, tokens.access_token, claims.sub);
    expect(userinfo).toMatchObject({ sub: claims.sub, acr: PASSWORD_PROTECTED_TRANSPORT, amr: ['pwd'] });
  });

  it('the Azure preset maps Entra ID’s claim URIs; the user ID is the persistent NameID', async () => {
    const cluster = handle.cluster();
    const claims = await login(personOf(CHRIS), 'contoso-entra');
    expect(claims).toMatchObject({ tenant: 'contoso', email: 'chris@contoso.test', given_name: 'Chris', family_name: 'Cole', role: 'member' });
    const nameId = persistentId(`${cluster.idpUrl}/metadata`, `${cluster.issuer}/saml/contoso-entra/metadata`, 'chris');
    expect(await handle.redisKeys('user-by-id:{contoso}:*')).toEqual([`user-by-id:{contoso}:federationId:${nameId}`]);
  });

  it('Create Users off: an unknown user gets a 403 page and nothing is stored; once the user exists (JIT elsewhere, or provisioned) the login works', async () => {
    const cluster = handle.cluster();
    const config = await discover(cluster, CLIENT_ID, undefined, ES256_CLIENT);
    const usersBefore = (await handle.redisKeys('user:*')).length;
    const logged = cluster.logEntries('authn-service').length;

    // Ivan, unknown, through the connection with Create Users off (chosen with idp_hint).
    const request = await authorizationRequest(config, loopbackRedirectUri(), { login_hint: IVAN.email, idp_hint: 'initech-closed' });
    const { acs } = await loginToAcs(new Journey(cluster), request, personOf(IVAN), { connectionId: 'initech-closed' });
    expect(acs.status).toBe(403);
    expect(acs.body.toLowerCase()).toContain('your administrator has not given you access');
    expect(acs.location).toBeUndefined();
    expect(await loggedRejections(cluster, 'authn-service', logged)).toEqual(['saml.user_not_provisioned']);
    expect(await handle.redisKeys('user-by-id:{initech}:*')).toEqual([]);
    expect(await handle.redisKeys('user:*')).toHaveLength(usersBefore);

    // The same person through the connection with Create Users on: created, with the tenant's
    // default access profile.
    const created = await login(personOf(IVAN), 'initech-open', 'initech-open');
    expect(created).toMatchObject({ tenant: 'initech', email: IVAN.email, role: 'viewer' });
    // Now known, the closed connection lets Ivan in as the same user.
    const again = await login(personOf(IVAN), 'initech-closed', 'initech-closed');
    expect(again.sub).toBe(created.sub);

    // Ida, provisioned ahead of her first login (the repository's provision(), on the cluster's
    // Redis keys), signs in through the closed connection with the provisioned access profile.
    const provisioned = await createUserRepository(store()).provision({ tenantId: 'initech', userIdType: 'federationId', userId: IDA.email, email: IDA.email, role: 'auditor' });
    const ida = await login(personOf(IDA), 'initech-closed', 'initech-closed');
    expect(ida.sub).toBe(provisioned.id);
    expect(ida).toMatchObject({ tenant: 'initech', role: 'auditor', given_name: 'Ida', family_name: 'Ingram' });
  });
});
