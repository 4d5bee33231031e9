// auth-portal, split mode: one process, Redis (REDIS_URL) required, behind the ingress.
import { createBrokerApp, listen, portFrom, runMain, shutdownOnSignals, startBrokerRuntime } from '@broker/server';

runMain('auth-portal', async () => {
  const { deps, logger, store } = await startBrokerRuntime({ service: 'auth-portal', mode: 'split' });
  const running = await listen(createBrokerApp(deps, ['portal']), portFrom(process.env, 'PORT', 3101), logger);
  logger.info({ url: running.url }, 'auth-portal ready');
  shutdownOnSignals(logger, [running.close, () => store.close()]);
});
