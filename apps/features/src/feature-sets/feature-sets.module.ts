import { Module } from '@nestjs/common';
import { WorkersModule } from '@keel/workers';
import { FeatureSetsConsumer } from './feature-sets.consumer';
import { FeatureSetsRepository } from './feature-sets.repository';
import { FeatureSetsService } from './feature-sets.service';
import { IncrementsRepository } from './increments.repository';
import { OnlineViewSweep } from './online-view-sweep';
import { OnlineViewsService } from './online-views.service';

/** Materializes feature sets from training windows over validated dataset versions, on new data and on request. */
@Module({
  imports: [WorkersModule],
  providers: [
    FeatureSetsRepository,
    IncrementsRepository,
    OnlineViewsService,
    OnlineViewSweep,
    FeatureSetsService,
    FeatureSetsConsumer,
  ],
})
export class FeatureSetsModule {}
