// Test-only: the broker's token service over real HTTP on a free port, for a configuration that a
// test can swap (as a restart with another file would), with tokens minted the way a finished
// login leaves them (session, grant, refresh and access token) for a user the test chooses.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ResolvedConfig } from '@broker/config';
import type { Store } from '@broker/store';
import { createLogger } from '@broker/telemetry';
import { buildBrokerDeps, createBrokerApp, type BrokerDeps } from '../broker.ts';
import { resolveSecrets } from '../secrets.ts';

export interface TokenHarness {
  base: string;
  /** Build the broker from `config` (on the harness's store) and serve it from now on. */
  use(config: ResolvedConfig): Promise<BrokerDeps>;
  /** A signed-in session of `userId` with a grant for `clientId`, and its refresh and access token. */
  tokensFor(deps: BrokerDeps, userId: string, clientId: string): Promise<{ refreshToken: string; accessToken: string }>;
  refresh(clientId: string, refreshToken: string): Promise<{ status: number; body: Record<string, unknown> }>;
  userinfo(accessToken: string): Promise<{ status: number; body: Record<string, unknown> }>;
  /** `client` (id and secret) introspects `token`. */
  introspect(client: { id: string; secret: string }, token: string): Promise<{ status: number; body: Record<string, unknown> }>;
  close(): Promise<void>;
}

const json = async (reply: Response): Promise<{ status: number; body: Record<string, unknown> }> => {
  const text = await reply.text();
  return { status: reply.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
};

export async function startTokenHarness(store: Store): Promise<TokenHarness> {
  const logger = createLogger({ service: 'token-harness', level: 'silent' });
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let current: ReturnType<typeof createBrokerApp> | undefined;
  server.on('request', (req, res) => {
    if (current) current(req, res);
    else res.writeHead(503).end();
  });
  return {
    base,
    async use(config) {
      const configured = { ...config, issuer: base };
      const deps = await buildBrokerDeps({ config: configured, store, logger, secrets: await resolveSecrets(configured, 'all-in-one', logger) });
      current = createBrokerApp(deps, ['token']);
      return deps;
    },
    async tokensFor({ provider }, userId, clientId) {
      const client = await provider.Client.find(clientId);
      if (!client) throw new Error(`no client ${clientId}`);
      const uid = randomBytes(16).toString('base64url');
      const grant = new provider.Grant({ accountId: userId, clientId });
      grant.addOIDCScope('openid email profile offline_access');
      const grantId = await grant.save();
      // oidc-provider's Session takes its properties and save() its TTL (its type declarations do not say so).
      const Session = provider.Session as unknown as new (properties: Record<string, unknown>) => { save(ttl: number): Promise<unknown> };
      await new Session({ uid, accountId: userId, loginTs: Math.floor(Date.now() / 1000), authorizations: { [clientId]: { grantId, persistsLogout: false } } }).save(3600);
      const common = { accountId: userId, client, grantId, scope: 'openid email profile offline_access', sessionUid: uid, gty: 'authorization_code' };
      return {
        refreshToken: await new provider.RefreshToken({ ...common, iat: Math.floor(Date.now() / 1000) }).save(),
        accessToken: await new provider.AccessToken(common).save(),
      };
    },
    refresh: async (clientId, refreshToken) =>
      json(
        await fetch(`${base}/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: clientId }),
        }),
      ),
    userinfo: async (accessToken) => json(await fetch(`${base}/userinfo`, { headers: { authorization: `Bearer ${accessToken}` } })),
    introspect: async (client, token) =>
      json(
        await fetch(`${base}/token/introspection`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${client.id}:${client.secret}`).toString('base64')}` },
          body: new URLSearchParams({ token }),
        }),
      ),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
