import { Module } from '@nestjs/common';
import { DatasetsModule } from '../datasets/datasets.module';
import { SourcePullsService } from './source-pulls.service';
import { SourceStateRepository } from './source-state.repository';
import { SourcesController } from './sources.controller';

/** Pulls from the sources a pipeline spec declares (PostgreSQL), on demand and on a schedule. */
@Module({
  imports: [DatasetsModule],
  controllers: [SourcesController],
  providers: [SourceStateRepository, SourcePullsService],
  exports: [SourcePullsService],
})
export class SourcesModule {}
