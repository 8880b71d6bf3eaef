export { type ModelRegistryApi, RegistryClient, type RegistryClientOptions } from './registry-client';
export { REGISTRY_CLIENT, registryClientFromConfig, RegistryClientModule } from './registry-client.module';
export {
  registryError,
  RegistryFailedPreconditionError,
  RegistryInvalidArgumentError,
  RegistryNotFoundError,
  RegistryUnavailableError,
} from './registry-errors';
