import { Module } from '@nestjs/common';
import { DriftModule } from '../drift/drift.module';
import { PredictionLogModule } from './prediction-log.module';
import { PredictionsConsumer } from './predictions.consumer';
import { PredictionsController } from './predictions.controller';
import { PredictionsService } from './predictions.service';

/** The prediction log: consumes predictions.logged, numbers drift windows, serves counts. */
@Module({
  imports: [PredictionLogModule, DriftModule],
  controllers: [PredictionsController],
  providers: [PredictionsService, PredictionsConsumer],
})
export class PredictionsModule {}
