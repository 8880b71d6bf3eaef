import { Module } from '@nestjs/common';
import { WorkersModule } from '@keel/workers';
import { FeatureSetsConsumer } from './feature-sets.consumer';
import { FeatureSetsRepository } from './feature-sets.repository';
import { FeatureSetsService } from './feature-sets.service';

/** Materializes feature sets from validated dataset versions. */
@Module({ imports: [WorkersModule], providers: [FeatureSetsRepository, FeatureSetsService, FeatureSetsConsumer] })
export class FeatureSetsModule {}
