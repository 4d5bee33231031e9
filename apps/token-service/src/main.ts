// token-service, split mode: one process, Redis (REDIS_URL) required, behind the ingress.
import { createBrokerApp, listen, portFrom, runMain, shutdownOnSignals, startBrokerRuntime } from '@broker/server';

runMain('token-service', async () => {
  const { deps, logger, store } = await startBrokerRuntime({ service: 'token-service', mode: 'split' });
  const running = await listen(createBrokerApp(deps, ['token']), portFrom(process.env, 'PORT', 3103), logger);
  logger.info({ url: running.url }, 'token-service ready');
  shutdownOnSignals(logger, [running.close, () => store.close()]);
});
