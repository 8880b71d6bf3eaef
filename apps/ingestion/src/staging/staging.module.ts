import { Module } from '@nestjs/common';
import { DatasetsModule } from '../datasets/datasets.module';
import { CutLogRepository } from './cut-log.repository';
import { CutService } from './cut.service';
import { StagingController } from './staging.controller';
import { StagingRepository } from './staging.repository';

/** Durable staging of checked records and cutting them into dataset versions. */
@Module({
  imports: [DatasetsModule],
  controllers: [StagingController],
  providers: [StagingRepository, CutLogRepository, CutService],
  exports: [StagingRepository, CutService],
})
export class StagingModule {}
