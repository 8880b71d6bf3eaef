import { Module } from '@nestjs/common';
import { DatasetsModule } from '../datasets/datasets.module';
import { StagingModule } from '../staging/staging.module';
import { RecordsConsumer } from './records.consumer';
import { RecordsService } from './records.service';

/** Upstream data events: checked, staged, bad records dead-lettered one by one. */
@Module({ imports: [StagingModule, DatasetsModule], providers: [RecordsService, RecordsConsumer] })
export class RecordsModule {}
