import { Module } from '@nestjs/common';
import { WorkersModule } from '@keel/workers';
import { DatasetDiffService } from './dataset-diff.service';
import { DatasetVersionsService } from './dataset-versions.service';
import { DatasetsController } from './datasets.controller';
import { DatasetsRepository } from './datasets.repository';
import { StagingThread } from '../staging/staging-thread';

/** Dataset versions: writing them (Parquet + document + event), listing and diffing them. */
@Module({
  imports: [WorkersModule],
  controllers: [DatasetsController],
  // The staging thread lives here because versions encode on it and staging needs versions (staging-thread.ts).
  providers: [DatasetsRepository, DatasetVersionsService, DatasetDiffService, StagingThread],
  exports: [DatasetsRepository, DatasetVersionsService, StagingThread],
})
export class DatasetsModule {}
