export { brokerConfigSchema, secretSchema } from './schema.ts';
export type { BrokerConfig, BrokerConfigInput, ClientConfig, ConnectionConfig, TenantConfig, SecretSource } from './schema.ts';
export { ConfigError, loadConfigFile, parseConfig, configPathFrom } from './load.ts';
export type { LoadOptions, ResolvedConfig, ResolvedConnection, ResolvedTenant, ResolvedClient } from './load.ts';
