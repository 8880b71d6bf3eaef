import { Module } from '@nestjs/common';
import { DatasetVersionsService } from './dataset-versions.service';
import { DatasetsController } from './datasets.controller';
import { DatasetsRepository } from './datasets.repository';

/** Dataset versions: writing them (Parquet + document + event) and listing them. */
@Module({
  controllers: [DatasetsController],
  providers: [DatasetsRepository, DatasetVersionsService],
  exports: [DatasetsRepository, DatasetVersionsService],
})
export class DatasetsModule {}
