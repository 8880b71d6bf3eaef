import { Module } from '@nestjs/common';
import { DatasetsModule } from '../datasets/datasets.module';
import { UploadsModule } from '../uploads/uploads.module';
import { ContentPlans } from './content-plans';
import { DeadRowsController } from './dead-rows.controller';
import { DeadRowsRepository } from './dead-rows.repository';
import { DeadRowsService } from './dead-rows.service';
import { HttpSourcePuller, httpReaderDepsProvider } from './http-pull';
import { ObjectStoreSourcePuller } from './object-store-pull';
import { SourcePullsService } from './source-pulls.service';
import { SourceStateRepository } from './source-state.repository';
import { SourcesController } from './sources.controller';

/** Pulls from the sources a pipeline spec declares (PostgreSQL, HTTP JSON APIs, object-store prefixes). */
@Module({
  imports: [DatasetsModule, UploadsModule],
  controllers: [SourcesController, DeadRowsController],
  providers: [
    SourceStateRepository,
    ContentPlans,
    httpReaderDepsProvider,
    HttpSourcePuller,
    ObjectStoreSourcePuller,
    SourcePullsService,
    DeadRowsRepository,
    DeadRowsService,
  ],
  exports: [SourcePullsService],
})
export class SourcesModule {}
