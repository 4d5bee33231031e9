import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigningJwks } from '@broker/oidc';
import { redisTestSupport } from '@broker/store/testing';
import { startMain } from './main-process.ts';

const DEMO = fileURLToPath(new URL('../../../config/demo/', import.meta.url));

/**
 * The process wiring of a split-mode app (auth-portal, authn-service, token-service): it refuses
 * to start without Redis or without shared secrets, names a bad configuration field without a
 * stack trace, and otherwise serves /healthz and /readyz and exits 0 on SIGTERM.
 */
export function describeSplitMain(service: string, mainPath: string): void {
  describe(`${service} main (split mode)`, () => {
    let dir = '';
    let good = '';
    let broken = '';
    const redisUrl = redisTestSupport.redisTestUrl();

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), `${service}-main-`));
      const demo = (await readFile(join(DEMO, 'broker.yaml'), 'utf8')).replace('./dev-idp/signing-cert.pem', join(DEMO, 'dev-idp/signing-cert.pem'));
      await writeFile(join(dir, 'jwks.json'), JSON.stringify(await generateSigningJwks()));
      good = join(dir, 'broker.yaml');
      await writeFile(good, `${demo}\nsecrets:\n  signingKeys: { file: ./jwks.json }\n  cookieKeys: [test-cookie-key-0123456789abcdef]\n`);
      broken = join(dir, 'broken.yaml');
      await writeFile(broken, demo.replace(/^issuer: .*$/m, 'issuer: not-a-url'));
    });
    afterAll(() => rm(dir, { recursive: true, force: true }));

    it('refuses to start without REDIS_URL, saying so', async () => {
      const app = startMain(mainPath, { BROKER_CONFIG: good, REDIS_URL: undefined, PORT: '0' });
      expect(await app.exited).toBe(1);
      expect(app.output.join('\n')).toMatch(/REDIS_URL is required in split mode/);
    });

    it('names the bad field of a broken configuration, without a stack trace', async () => {
      const app = startMain(mainPath, { BROKER_CONFIG: broken, REDIS_URL: redisUrl, PORT: '0' });
      expect(await app.exited).toBe(1);
      const output = app.output.join('\n');
      expect(output).toMatch(/- issuer: must be an absolute http\(s\) URL/);
      expect(output).not.toMatch(/\n\s+at /);
    });

    it('refuses the demo configuration, which has no shared signing keys', async () => {
      const app = startMain(mainPath, { BROKER_CONFIG: join(DEMO, 'broker.yaml'), REDIS_URL: redisUrl, PORT: '0' });
      expect(await app.exited).toBe(1);
      expect(app.output.join('\n')).toMatch(/secrets\.signingKeys: required in split mode/);
    });

    it('serves /healthz and /readyz on Redis and exits 0 on SIGTERM', async () => {
      const available = await redisTestSupport.redisAvailable(redisUrl);
      if (redisTestSupport.skipRedisTests(available, redisUrl)) return;
      redisTestSupport.requireRedisInCi(available, redisUrl);
      const app = startMain(mainPath, { BROKER_CONFIG: good, REDIS_URL: redisUrl, REDIS_KEY_PREFIX: `test-main-${service}-${Date.now()}:`, PORT: '0' });
      try {
        const ready = await app.waitForLog(new RegExp(`^${service} ready$`));
        const url = String(ready['url']);
        expect(await (await fetch(`${url}/healthz`)).text()).toBe('ok');
        expect(await (await fetch(`${url}/readyz`)).text()).toBe('ready');
      } finally {
        expect(await app.stop()).toBe(0);
      }
    });
  });
}
