import { Module } from '@nestjs/common';
import { FeatureSetsModule } from './feature-sets/feature-sets.module';

/** Fits feature transforms on training data and materializes feature sets that travel with the model. */
@Module({ imports: [FeatureSetsModule] })
export class FeaturesModule {}
