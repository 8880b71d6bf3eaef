import { Module } from '@nestjs/common';
import { PredictionLogModule } from '../predictions/prediction-log.module';
import { DriftController } from './drift.controller';
import { DriftMetrics } from './drift.metrics';
import { DriftService } from './drift.service';
import { DriftWindowRepository } from './drift-window.repository';
import { PackageCache } from './package-cache';

/** Drift windows: evaluation against the model package's reference, reports, drift and retraining events. */
@Module({
  imports: [PredictionLogModule],
  controllers: [DriftController],
  providers: [DriftService, DriftWindowRepository, DriftMetrics, PackageCache],
  exports: [DriftService, DriftWindowRepository],
})
export class DriftModule {}
