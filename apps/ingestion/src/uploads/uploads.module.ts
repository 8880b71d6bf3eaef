import { Module } from '@nestjs/common';
import { WorkersModule } from '@keel/workers';
import { DatasetsModule } from '../datasets/datasets.module';
import { UploadsController } from './uploads.controller';
import { UploadsService } from './uploads.service';

/** Whole-file uploads (CSV, JSON Lines, Parquet) straight to dataset versions. */
@Module({
  imports: [DatasetsModule, WorkersModule],
  controllers: [UploadsController],
  providers: [UploadsService],
  exports: [UploadsService],
})
export class UploadsModule {}
