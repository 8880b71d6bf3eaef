import { Module, type Provider, type Type } from '@nestjs/common';
import { InferenceModule } from './inference/inference.module';
import { CHAMPION_RESOLVER } from './models/champion-resolver';
import { ChampionResolverModule, ModelsModule } from './models/models.module';
import { RegistryChampionResolver } from './models/registry-champion-resolver';

/**
 * The serving feature with a given source of champions: `{ provide: CHAMPION_RESOLVER, ... }`. Production uses
 * {@link ServingModule} (the registry over gRPC); tests pass a resolver that returns their own packages.
 */
export function servingModule(championResolver: Provider): Type<unknown> {
  /** Open Inference Protocol v2 over gRPC with hot swaps of each pipeline's champion. */
  @Module({ imports: [ChampionResolverModule.register(championResolver), ModelsModule, InferenceModule] })
  class ServingModule {}
  return ServingModule;
}

/** Serving with champions resolved by the registry (REGISTRY_GRPC_URL). */
export const ServingModule = servingModule({ provide: CHAMPION_RESOLVER, useClass: RegistryChampionResolver });
