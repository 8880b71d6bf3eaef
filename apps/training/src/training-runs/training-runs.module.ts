import { Module } from '@nestjs/common';
import { WorkersModule } from '@keel/workers';
import { TrainingRunsConsumer } from './training-runs.consumer';
import { TrainingRunsRepository } from './training-runs.repository';
import { TrainingRunsService } from './training-runs.service';

/** Training runs: from a feature set (new or requested again) to a model package and `model.trained`. */
@Module({ imports: [WorkersModule], providers: [TrainingRunsRepository, TrainingRunsService, TrainingRunsConsumer] })
export class TrainingRunsModule {}
