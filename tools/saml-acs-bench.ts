// `npm run bench:saml [-- --redis] [-- --iterations N] [-- --warmup N]`: what one SAML response
// costs to validate at the ACS, in one process. Builds distinct signed responses first (a typical
// Microsoft Entra ID shaped response of about 8 KB: Assertion signed, 15 attributes with a groups
// claim), so signing is never timed, then alternates, response by response:
//   bare: node-saml's own validatePostResponseAsync on one long-lived SAML instance with the
//         equivalent options (pinned idpCert, audience, issuer, callbackUrl, wantAssertionsSigned,
//         acceptedClockSkewMs, no InResponseTo cache);
//   ours: createSamlServiceProvider(...).validateResponse(...): preflight, the assertion checks,
//         the broker's own signature verification in the parsed document (libs/saml/src/
//         signature.ts), the InResponseTo consumption and the replay cache, on the memory store
//         (or Redis with --redis: REDIS_URL, default redis://127.0.0.1:6379, under a random key
//         prefix removed at the end).
// Prints p50 and p99 in microseconds and the overhead of ours over bare. `--only bare|ours` runs
// one side alone, for a CPU profile: node --cpu-prof --import tsx tools/saml-acs-bench.ts --only ours
import { randomBytes } from 'node:crypto';
import { SAML, ValidateInResponseTo } from '@node-saml/node-saml';
import { createSamlServiceProvider } from '@broker/saml';
import { createMemoryStore, createRedisStore, keys, type Store } from '@broker/store';
import { BROKER_ISSUER, acsPost, interopConnection, savePendingRequest, spEndpoints } from '../libs/saml/src/interop/support.ts';
import { CLAIMS, ENTRA_TENANT_ID, entraIdResponse, entraIssuer } from '../libs/saml/src/interop/vendor-responses.ts';
import { option, write } from './cli.ts';


const useRedis = process.argv.includes('--redis');
// For profiling one side alone (node --cpu-prof): --only bare | --only ours.
const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;
if (only !== undefined && only !== 'bare' && only !== 'ours') throw new Error('--only takes bare or ours');
const iterations = option('iterations', 300);
const warmup = option('warmup', 50);
const total = warmup + iterations;

const connection = interopConnection({
  id: 'bench-entra',
  idpEntityId: entraIssuer(ENTRA_TENANT_ID),
  attributes: { email: CLAIMS.emailaddress, givenName: CLAIMS.givenname, surname: CLAIMS.surname },
});
const { spEntityId, acsUrl } = spEndpoints(connection);

// A typical enterprise response: 10 standard Entra claims, 5 directory extras, 36 groups.
const groups = Array.from({ length: 36 }, (_, i) => `${randomBytes(4).toString('hex')}-${(1000 + i).toString(16)}-4${randomBytes(2).toString('hex').slice(1)}-a${randomBytes(2).toString('hex').slice(1)}-${randomBytes(6).toString('hex')}`);
const extraClaims = {
  'http://schemas.microsoft.com/ws/2008/06/identity/claims/department': 'Research & Development',
  'http://schemas.microsoft.com/ws/2008/06/identity/claims/jobtitle': 'Principal Engineer',
  'http://schemas.microsoft.com/ws/2008/06/identity/claims/employeeid': '004217',
  'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/country': 'NL',
  'http://schemas.microsoft.com/ws/2008/06/identity/claims/wids': 'b79fbf4d-3ef9-4689-8143-76b194e85509',
};
const person = { email: 'grace.hopper@contoso.test', givenName: 'Grace', surname: 'Hopper' };

const store: Store = useRedis
  ? createRedisStore({ url: process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379', keyPrefix: `bench-saml-${randomBytes(6).toString('hex')}:` })
  : createMemoryStore();
const usedKeys: string[] = [];

interface Prepared {
  requestId: string;
  samlResponse: string;
}

// Signing and request bookkeeping happen here, before any timing.
const prepared: Prepared[] = [];
for (let i = 0; i < total; i++) {
  const requestId = `_${randomBytes(20).toString('hex')}`;
  const assertionId = `_${randomBytes(16).toString('hex')}`;
  prepared.push({ requestId, samlResponse: entraIdResponse({ requestId, spEntityId, acsUrl, person, nameIdFormat: 'persistent', groups, extraClaims, assertionId }) });
  await savePendingRequest(store, connection.id, requestId);
  usedKeys.push(keys.authnRequest(connection.id, requestId), keys.assertionSeen(connection.id, assertionId));
}
const sample = prepared[0]?.samlResponse ?? '';
const xmlBytes = Buffer.from(sample, 'base64').length;

const bare = new SAML({
  callbackUrl: acsUrl,
  issuer: spEntityId,
  audience: spEntityId,
  idpIssuer: entraIssuer(ENTRA_TENANT_ID),
  idpCert: connection.idp.certificates,
  wantAssertionsSigned: true,
  wantAuthnResponseSigned: false,
  acceptedClockSkewMs: connection.security.clockSkewSeconds * 1000,
  maxAssertionAgeMs: (connection.security.maxAssertionAgeSeconds + connection.security.clockSkewSeconds) * 1000,
  validateInResponseTo: ValidateInResponseTo.never,
});
const sp = createSamlServiceProvider({ issuer: BROKER_ISSUER, store });

async function timeBare(item: Prepared): Promise<bigint> {
  const start = process.hrtime.bigint();
  const result = await bare.validatePostResponseAsync({ SAMLResponse: item.samlResponse });
  const elapsed = process.hrtime.bigint() - start;
  if (!result.profile) throw new Error('bare validation returned no profile');
  return elapsed;
}

async function timeOurs(item: Prepared): Promise<bigint> {
  const req = acsPost(item.samlResponse);
  const start = process.hrtime.bigint();
  const assertion = await sp.validateResponse(req, connection, { expectedRequestId: item.requestId });
  const elapsed = process.hrtime.bigint() - start;
  if (assertion.inResponseTo !== item.requestId) throw new Error('our validation answered another request');
  return elapsed;
}

const percentile = (sorted: bigint[], p: number): number => {
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return Number(sorted[index] ?? 0n) / 1000;
};
const summary = (samples: bigint[]): { p50: number; p99: number } => {
  const sorted = [...samples].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
};

try {
  const bareSamples: bigint[] = [];
  const ourSamples: bigint[] = [];
  // Alternate the two, so JIT warm-up, GC and machine noise fall on both alike.
  for (const [i, item] of prepared.entries()) {
    const b = only === 'ours' ? 0n : await timeBare(item);
    const o = only === 'bare' ? 0n : await timeOurs(item);
    if (i >= warmup) {
      bareSamples.push(b);
      ourSamples.push(o);
    }
  }
  const b = summary(bareSamples);
  const o = summary(ourSamples);
  const pct = (ours: number, base: number): string => `${((ours / base - 1) * 100).toFixed(1)}%`;
  write(`saml-acs-bench: ${iterations} responses timed after ${warmup} warm-up, store ${useRedis ? 'redis' : 'memory'}, node ${process.version}`);
  write(`response: ${(xmlBytes / 1024).toFixed(1)} KB XML (${(sample.length / 1024).toFixed(1)} KB base64), Assertion signed RSA-SHA256, 15 attributes, ${groups.length} groups`);
  if (only !== 'ours') write(`bare node-saml validatePostResponseAsync: p50 ${b.p50.toFixed(0)} us, p99 ${b.p99.toFixed(0)} us`);
  if (only !== 'bare') write(`ours createSamlServiceProvider.validateResponse: p50 ${o.p50.toFixed(0)} us, p99 ${o.p99.toFixed(0)} us`);
  if (only === undefined) write(`ours against bare (ours / bare - 1): p50 ${pct(o.p50, b.p50)}, p99 ${pct(o.p99, b.p99)}; bare takes ${(b.p50 / o.p50).toFixed(1)}x ours at p50`);
} finally {
  if (useRedis) await store.delete(...usedKeys);
  await store.close();
}
