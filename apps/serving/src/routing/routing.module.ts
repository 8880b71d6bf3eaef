import { Global, Module } from '@nestjs/common';
import { VERSION_ROUTER } from '../inference/version-router';
import { ModelsModule } from '../models/models.module';
import { RolloutRouter } from './rollout-router';

/**
 * Rollout routing for the inference path: provides serving's VERSION_ROUTER seam. Global, so the inference module
 * (which injects it as optional) sees it without importing this module.
 */
@Global()
@Module({
  imports: [ModelsModule],
  providers: [RolloutRouter, { provide: VERSION_ROUTER, useExisting: RolloutRouter }],
  exports: [VERSION_ROUTER],
})
export class RoutingModule {}
