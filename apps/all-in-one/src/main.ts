// All-in-one mode: the broker's three parts on one port with the in-memory store, the dev IdP
// on its own port, the demo configuration, and a demo app to sign in to. No Redis needed.
import { fileURLToPath } from 'node:url';
import { startDevIdp } from '@broker/dev-idp';
import { createBrokerApp, listen, portFrom, runMain, shutdownOnSignals, startBrokerRuntime } from '@broker/server';
import { createDemoApp } from './demo-app.ts';

const demoConfig = (file: string): string => fileURLToPath(new URL(`../../../config/demo/${file}`, import.meta.url));

runMain('all-in-one', async () => {
  const env = process.env;
  const { deps, logger, store } = await startBrokerRuntime({ service: 'broker', mode: 'all-in-one', defaultConfigPath: demoConfig('broker.yaml') });
  const devIdp = await startDevIdp({ configPath: env['DEV_IDP_CONFIG'] ?? demoConfig('dev-idp.yaml'), logger: logger.child({ component: 'dev-idp' }) });
  const broker = await listen(createBrokerApp(deps, ['portal', 'authn', 'token']), portFrom(env, 'PORT', 3000), logger);

  const demoPort = portFrom(env, 'DEMO_APP_PORT', 3002);
  const demo = await createDemoApp({ issuer: deps.config.issuer, clientId: 'demo-native', redirectUri: `http://127.0.0.1:${demoPort}/callback` });
  const demoApp = await listen(demo.app, demoPort, logger, '127.0.0.1');

  logger.info({ issuer: deps.config.issuer, devIdp: devIdp.url, demoApp: `http://127.0.0.1:${demoPort}` }, 'all-in-one ready');
  process.stdout.write(
    [
      '',
      'Broker (all-in-one) is running.',
      `  issuer / portal:  ${deps.config.issuer}   (discovery: ${deps.config.issuer}/.well-known/openid-configuration)`,
      `  dev IdP:          ${devIdp.url}   (users alice / alice-password, bob / bob-password)`,
      `  demo app:         http://127.0.0.1:${demoPort}/`,
      '',
      'Open this authorization URL in a browser to sign in to the demo app as alice',
      '(type alice@acme.test on the first page, then alice / alice-password at the dev IdP):',
      `  ${await demo.authorizationUrl()}`,
      `(or start from the demo app: http://127.0.0.1:${demoPort}/login)`,
      '',
    ].join('\n'),
  );
  shutdownOnSignals(logger, [broker.close, devIdp.close, demoApp.close, () => store.close()]);
});
