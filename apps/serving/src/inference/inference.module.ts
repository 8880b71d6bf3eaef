import { Module } from '@nestjs/common';
import { ModelsModule } from '../models/models.module';
import { InferenceController } from './inference.controller';
import { InferenceMetrics } from './inference-metrics';
import { InferenceService } from './inference.service';
import { PredictionLogService } from './prediction-log.service';
import { OipRestController } from './rest/oip-rest.controller';

/** The Open Inference Protocol v2 over gRPC (`inference.GRPCInferenceService`) and REST (`/v2`), and prediction logging. */
@Module({
  imports: [ModelsModule],
  controllers: [OipRestController],
  providers: [InferenceMetrics, PredictionLogService, InferenceService, InferenceController],
})
export class InferenceModule {}
