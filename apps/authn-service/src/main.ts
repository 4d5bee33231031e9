// authn-service, split mode: one process, Redis (REDIS_URL) required, behind the ingress.
import { createBrokerApp, listen, portFrom, runMain, shutdownOnSignals, startBrokerRuntime } from '@broker/server';

runMain('authn-service', async () => {
  const { deps, logger, store } = await startBrokerRuntime({ service: 'authn-service', mode: 'split' });
  const running = await listen(createBrokerApp(deps, ['authn']), portFrom(process.env, 'PORT', 3102), logger);
  logger.info({ url: running.url }, 'authn-service ready');
  shutdownOnSignals(logger, [running.close, () => store.close()]);
});
