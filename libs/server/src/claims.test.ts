// What userinfo says about a user, on the broker's token service over HTTP (in-memory store), after
// logins recorded the way the ACS records them (users.recordLogin with the mapped identity):
// email_verified follows the connection the address came from and the tenant's own domains, and
// a role the IdP stopped asserting is gone.
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfigFile, type ResolvedConfig, type ResolvedConnection, type ResolvedTenant } from '@broker/config';
import type { AssertedIdentity } from '@broker/identity';
import { createMemoryStore } from '@broker/store';
import type { BrokerDeps } from './broker.ts';
import { startTokenHarness, type TokenHarness } from './test/token-harness.ts';

const demo = loadConfigFile(fileURLToPath(new URL('../../../config/demo/broker.yaml', import.meta.url)), { env: {} });
const acme = demo.tenants[0] as ResolvedTenant;
const devIdp = acme.connections[0] as ResolvedConnection;
/** Acme with two connections: one whose IdP verifies addresses, one whose IdP does not. */
const config: ResolvedConfig = {
  ...demo,
  tenants: [
    {
      ...acme,
      connections: [
        { ...devIdp, id: 'acme-verified', emailVerified: true, attributes: { ...devIdp.attributes, accessProfile: 'role' } },
        { ...devIdp, id: 'acme-unverified', emailVerified: false },
      ],
    },
  ],
};
const CLIENT = 'demo-native';
const JIT = { createUsers: true, defaultRole: 'member' };

describe('claims at userinfo', () => {
  const store = createMemoryStore();
  let harness: TokenHarness;
  let deps: BrokerDeps;
  beforeAll(async () => {
    harness = await startTokenHarness(store);
    deps = await harness.use(config);
  });
  afterAll(async () => {
    await harness.close();
    await store.close();
  });

  let counter = 0;
  /** A person's login through `connectionId`, as the ACS records it. */
  const login = async (person: string, connectionId: string, asserted: Partial<AssertedIdentity> = {}) => {
    const outcome = await deps.users.recordLogin(
      { tenantId: 'acme', connectionId, userIdType: 'federationId', userId: person, accessProfileMapped: connectionId === 'acme-verified', ...asserted },
      JIT,
    );
    if ('refused' in outcome) throw new Error('refused');
    return outcome.user;
  };
  /** What userinfo says about the user now. */
  const claims = async (userId: string) => {
    const { accessToken } = await harness.tokensFor(deps, userId, CLIENT);
    const reply = await harness.userinfo(accessToken);
    expect(reply.status).toBe(200);
    return reply.body;
  };
  const person = () => `person-${++counter}`;

  it('email_verified: true only for an address from a connection whose IdP verifies them, in the tenant’s domains', async () => {
    const verified = await login(person(), 'acme-verified', { email: 'ann@acme.test' });
    expect(await claims(verified.id)).toMatchObject({ email: 'ann@acme.test', email_verified: true });

    const unverified = await login(person(), 'acme-unverified', { email: 'bob@acme.test' });
    expect(await claims(unverified.id)).toMatchObject({ email: 'bob@acme.test', email_verified: false });

    // An address outside the tenant's domains is not the IdP's to vouch for.
    const foreign = await login(person(), 'acme-verified', { email: 'ceo@other-company.example' });
    expect(await claims(foreign.id)).toMatchObject({ email: 'ceo@other-company.example', email_verified: false });
  });

  it('email_verified follows the connection the address came from, not the last one used', async () => {
    const id = person();
    // The address came from the unverified connection; the next login (verified connection) sends none.
    await login(id, 'acme-unverified', { email: 'carol@acme.test' });
    const user = await login(id, 'acme-verified');
    expect(user).toMatchObject({ connectionId: 'acme-verified', emailConnectionId: 'acme-unverified' });
    expect(await claims(user.id)).toMatchObject({ email: 'carol@acme.test', email_verified: false });

    // And the other way round: an address from the verified connection stays verified.
    const other = person();
    await login(other, 'acme-verified', { email: 'dave@acme.test' });
    const after = await login(other, 'acme-unverified');
    expect(await claims(after.id)).toMatchObject({ email: 'dave@acme.test', email_verified: true });
  });

  it('a provisioned address is not verified, not even after a login through the verifying connection that sends none', async () => {
    const id = person();
    const provisioned = await deps.users.provision({ tenantId: 'acme', userIdType: 'federationId', userId: id, email: 'erin@acme.test', role: 'member' });
    expect(await claims(provisioned.id)).toMatchObject({ email: 'erin@acme.test', email_verified: false });
    await login(id, 'acme-verified');
    const after = await login(id, 'acme-verified');
    expect(await claims(after.id)).toMatchObject({ email: 'erin@acme.test', email_verified: false });
  });

  it('a tenant without emailDomains: the connection’s policy alone decides', async () => {
    const noDomains = await harness.use({ ...config, tenants: config.tenants.map((t) => ({ ...t, emailDomains: [] })) });
    try {
      const user = await login(person(), 'acme-verified', { email: 'fred@anywhere.example' });
      const { accessToken } = await harness.tokensFor(noDomains, user.id, CLIENT);
      expect((await harness.userinfo(accessToken)).body).toMatchObject({ email: 'fred@anywhere.example', email_verified: true });
    } finally {
      deps = await harness.use(config);
    }
  });

  it('a role the IdP stopped asserting is gone at the next login', async () => {
    const id = person();
    const admin = await login(id, 'acme-verified', { accessProfile: 'admin' });
    expect(await claims(admin.id)).toMatchObject({ role: 'admin' });
    const after = await login(id, 'acme-verified');
    expect(await claims(after.id)).toMatchObject({ role: 'member' });
  });
});
