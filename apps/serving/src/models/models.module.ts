import { Module } from '@nestjs/common';
import { ModelLoaderService } from './model-loader.service';
import { ModelMetrics } from './model-metrics';
import { ModelStore } from './model-store';
import { ModelsConsumer } from './models.consumer';
import { ModelsReadiness } from './models-readiness';

/** Model lifecycle: each model serves its registry aliases, loaded at start and hot-swapped when an alias moves. */
@Module({
  providers: [ModelStore, ModelMetrics, ModelLoaderService, ModelsConsumer, ModelsReadiness],
  exports: [ModelStore],
})
export class ModelsModule {}
