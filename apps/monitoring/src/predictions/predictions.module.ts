import { Module } from '@nestjs/common';
import { StreamModule } from '../stream/stream.module';
import { PredictionLogRepository } from './prediction-log.repository';
import { PredictionsV1Relay } from './predictions-v1.relay';
import { PredictionsController } from './predictions.controller';

/** The prediction log's edges: v1 logs relayed into the v2 stream, the predictions count, the log of earlier releases. */
@Module({
  imports: [StreamModule],
  controllers: [PredictionsController],
  providers: [PredictionLogRepository, PredictionsV1Relay],
  exports: [PredictionLogRepository, StreamModule],
})
export class PredictionsModule {}
