import { Module } from '@nestjs/common';
import { ModelsModule } from '../models/models.module';
import { InferenceController } from './inference.controller';
import { InferenceMetrics } from './inference-metrics';
import { InferenceService } from './inference.service';
import { PredictionLogService } from './prediction-log.service';

/** `inference.GRPCInferenceService` (Open Inference Protocol v2) and prediction logging. */
@Module({
  imports: [ModelsModule],
  providers: [InferenceMetrics, PredictionLogService, InferenceService, InferenceController],
})
export class InferenceModule {}
