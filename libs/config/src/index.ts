export { brokerConfigSchema, secretSchema, CONNECTION_DEFAULTS, ATTRIBUTE_PRESETS } from './schema.ts';
export type { BrokerConfig, BrokerConfigInput, ClientConfig, ResourceServerConfig, ConnectionConfig, TenantConfig, SecretSource } from './schema.ts';
export { ConfigError, loadConfigFile, parseConfig, configPathFrom } from './load.ts';
export type { AttributeMapping, KeyPair, LoadOptions, ResolvedConfig, ResolvedConnection, ResolvedTenant, ResolvedClient } from './load.ts';
