import { Module } from '@nestjs/common';
import { WorkersModule } from '@keel/workers';
import { DatasetDiffService } from './dataset-diff.service';
import { DatasetVersionsService } from './dataset-versions.service';
import { DatasetsController } from './datasets.controller';
import { DatasetsRepository } from './datasets.repository';

/** Dataset versions: writing them (Parquet + document + event), listing and diffing them. */
@Module({
  imports: [WorkersModule],
  controllers: [DatasetsController],
  providers: [DatasetsRepository, DatasetVersionsService, DatasetDiffService],
  exports: [DatasetsRepository, DatasetVersionsService],
})
export class DatasetsModule {}
