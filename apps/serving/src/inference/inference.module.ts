import { Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { WorkersModule } from '@keel/workers';
import { ModelsModule } from '../models/models.module';
import { OnlineViews } from '../online/online-views';
import { InferenceController } from './inference.controller';
import { InferenceMetrics } from './inference-metrics';
import { InferenceService } from './inference.service';
import { PredictionLogService } from './prediction-log.service';
import { OipRestController } from './rest/oip-rest.controller';
import { OipRestErrorFilter } from './rest/oip-rest-errors.filter';

/** The Open Inference Protocol v2 over gRPC (`inference.GRPCInferenceService`) and REST (`/v2`), and prediction logging. */
@Module({
  imports: [ModelsModule, WorkersModule],
  controllers: [OipRestController],
  providers: [
    InferenceMetrics,
    PredictionLogService,
    OnlineViews,
    InferenceService,
    InferenceController,
    // Errors before the REST handler (a body that does not parse) in the binding's `{ "error" }` shape.
    { provide: APP_FILTER, useClass: OipRestErrorFilter },
  ],
})
export class InferenceModule {}
