import { Module } from '@nestjs/common';
import { DatasetsModule } from './datasets/datasets.module';
import { RecordsModule } from './records/records.module';
import { SourcesModule } from './sources/sources.module';
import { StagingModule } from './staging/staging.module';
import { UploadsModule } from './uploads/uploads.module';

/** Turns upstream data events, uploads and pulls into immutable, content-addressed dataset versions. */
@Module({ imports: [DatasetsModule, StagingModule, RecordsModule, UploadsModule, SourcesModule] })
export class IngestionModule {}
