import { Module } from '@nestjs/common';
import { RegistryClientModule } from '@keel/registry-client';
import { WorkersModule } from '@keel/workers';
import { DriftEvaluator } from './drift-evaluator.service';
import { DriftEventsPublisher } from './drift-events.publisher';
import { DriftWindowRepository } from './drift-window.repository';
import { DriftController } from './drift.controller';
import { DriftMetrics } from './drift.metrics';
import { DriftService } from './drift.service';
import { PackageCache } from './package-cache';
import { WindowCounterRepository } from './window-counter.repository';

/**
 * Drift windows once closed: evaluation against the model package's reference, reports, drift and retraining events
 * (DriftService), and what the stream needs of a version (its package, the counters of earlier releases). Fed by the
 * prediction stream; imports nothing of it.
 */
@Module({
  imports: [RegistryClientModule.forRoot(), WorkersModule],
  controllers: [DriftController],
  providers: [
    DriftService,
    DriftEvaluator,
    DriftWindowRepository,
    WindowCounterRepository,
    DriftEventsPublisher,
    DriftMetrics,
    PackageCache,
  ],
  exports: [DriftService, DriftWindowRepository, PackageCache, WindowCounterRepository],
})
export class DriftModule {}
