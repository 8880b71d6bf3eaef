export { ConfigError, envBoolean, envList, envPort, loadConfig } from './load-config';
export { httpPortSchema, platformEnvSchema, type PlatformConfig } from './platform-env';
