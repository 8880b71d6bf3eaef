import { Module } from '@nestjs/common';
import { ExperimentRunsController } from './experiment-runs.controller';
import { ExperimentRunsRepository } from './experiment-runs.repository';

/** Tracked experiment runs: written by training runs, read over HTTP. */
@Module({
  controllers: [ExperimentRunsController],
  providers: [ExperimentRunsRepository],
  exports: [ExperimentRunsRepository],
})
export class ExperimentsModule {}
