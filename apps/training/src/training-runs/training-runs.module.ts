import { Module } from '@nestjs/common';
import { WorkersModule } from '@keel/workers';
import { ExperimentsModule } from '../experiments/experiments.module';
import { TrainingRequestsController } from './training-requests.controller';
import { TrainingRunsConsumer } from './training-runs.consumer';
import { TrainingRunsRepository } from './training-runs.repository';
import { TrainingRunsService } from './training-runs.service';

/** Training runs: from a feature set (new data or a request) to a model package and `model.trained`; requests over HTTP. */
@Module({
  imports: [WorkersModule, ExperimentsModule],
  controllers: [TrainingRequestsController],
  providers: [TrainingRunsRepository, TrainingRunsService, TrainingRunsConsumer],
})
export class TrainingRunsModule {}
