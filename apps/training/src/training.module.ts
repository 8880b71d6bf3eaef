import { Module } from '@nestjs/common';
import { TrainingRunsModule } from './training-runs/training-runs.module';

/** Trains, tunes and evaluates models, records runs and emits model packages. */
@Module({ imports: [TrainingRunsModule] })
export class TrainingModule {}
