import { Module } from '@nestjs/common';
import { DriftModule } from '../drift/drift.module';
import { PredictionLogRepository } from './prediction-log.repository';
import { PredictionsConsumer } from './predictions.consumer';
import { PredictionsController } from './predictions.controller';
import { PredictionsService } from './predictions.service';

/** The prediction log: consumes predictions.logged, logs each prediction once, hands new rows on to drift. */
@Module({
  imports: [DriftModule],
  controllers: [PredictionsController],
  providers: [PredictionLogRepository, PredictionsService, PredictionsConsumer],
  exports: [PredictionLogRepository],
})
export class PredictionsModule {}
