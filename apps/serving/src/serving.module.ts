import { Module, type Provider, type Type } from '@nestjs/common';
import { registryClientFromConfig, RegistryClientModule } from '@keel/registry-client';
import { InferenceModule } from './inference/inference.module';
import { ModelsModule } from './models/models.module';
import { RoutingModule } from './routing/routing.module';

/**
 * The serving feature with a given registry: `{ provide: REGISTRY_CLIENT, ... }`. Production uses
 * {@link ServingModule} (the registry at REGISTRY_GRPC_URL); tests pass a registry that returns their own packages.
 */
export function servingModule(registry: Provider = registryClientFromConfig): Type<unknown> {
  /** Open Inference Protocol v2 over gRPC, serving each model's registry aliases with hot swaps. */
  @Module({ imports: [RegistryClientModule.forRoot(registry), ModelsModule, InferenceModule, RoutingModule] })
  class ServingModule {}
  return ServingModule;
}

/** Serving with versions resolved by the registry (REGISTRY_GRPC_URL). */
export const ServingModule = servingModule();
