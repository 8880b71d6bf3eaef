export { ConfigError, envBoolean, envList, envPort, loadConfig } from './load-config';
export {
  platformConfigProblems,
  platformEnvSchema,
  type PlatformConfig,
  type ServiceConfig,
  serviceEnvSchema,
} from './platform-env';
