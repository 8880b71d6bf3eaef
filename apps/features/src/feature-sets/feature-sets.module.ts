import { Module } from '@nestjs/common';
import { FeatureSetsConsumer } from './feature-sets.consumer';
import { FeatureSetsRepository } from './feature-sets.repository';
import { FeatureSetsService } from './feature-sets.service';

/** Materializes feature sets from validated dataset versions. */
@Module({ providers: [FeatureSetsRepository, FeatureSetsService, FeatureSetsConsumer] })
export class FeatureSetsModule {}
