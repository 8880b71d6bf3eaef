import { type DynamicModule, Global, Module, type Provider } from '@nestjs/common';
import { CHAMPION_RESOLVER } from './champion-resolver';
import { ModelLoaderService } from './model-loader.service';
import { ModelMetrics } from './model-metrics';
import { ModelStore } from './model-store';
import { ModelsConsumer } from './models.consumer';

/**
 * Provides the {@link CHAMPION_RESOLVER} (registry over gRPC in production, a stub in tests) to the models feature.
 * Global so the static ModelsModule can inject whichever resolver the root module chose.
 */
@Global()
@Module({})
export class ChampionResolverModule {
  static register(resolver: Provider): DynamicModule {
    return { module: ChampionResolverModule, providers: [resolver], exports: [CHAMPION_RESOLVER] };
  }
}

/** Model lifecycle: each pipeline serves its registry champion, loaded at start and hot-swapped on alias moves. */
@Module({
  providers: [ModelStore, ModelMetrics, ModelLoaderService, ModelsConsumer],
  exports: [ModelStore],
})
export class ModelsModule {}
