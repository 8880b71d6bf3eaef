import { type DynamicModule, type FactoryProvider, Global, Module, type Provider } from '@nestjs/common';
import {
  grpcChannelCredentials,
  type GrpcTlsConfig,
  SERVICE_CONFIG,
  serviceAuthorization,
} from '@keel/service-runtime';
import { type ModelRegistryApi, RegistryClient } from './registry-client';

/** DI token of the app's {@link ModelRegistryApi}: inject with `@Inject(REGISTRY_CLIENT)`, override in tests. */
export const REGISTRY_CLIENT = Symbol('REGISTRY_CLIENT');

/** The registry at the service config's `REGISTRY_GRPC_URL`. */
export const registryClientFromConfig: FactoryProvider<ModelRegistryApi> = {
  provide: REGISTRY_CLIENT,
  useFactory: (config: GrpcTlsConfig & { REGISTRY_GRPC_URL: string; SERVICE_API_KEY_FILE?: string }) =>
    new RegistryClient(config.REGISTRY_GRPC_URL, {
      authorization: serviceAuthorization(config),
      credentials: grpcChannelCredentials(config),
    }),
  inject: [SERVICE_CONFIG],
};

/** Makes {@link REGISTRY_CLIENT} available to the whole app; import it once, in the app's feature module. */
@Global()
@Module({})
export class RegistryClientModule {
  /** `provider` defaults to {@link registryClientFromConfig}; tests pass `{ provide: REGISTRY_CLIENT, useValue }`. */
  static forRoot(provider: Provider = registryClientFromConfig): DynamicModule {
    return { module: RegistryClientModule, providers: [provider], exports: [REGISTRY_CLIENT] };
  }
}
