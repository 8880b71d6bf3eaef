import { Module } from '@nestjs/common';

/** Fits feature transforms on training data and materializes feature sets that travel with the model. */
@Module({})
export class FeaturesModule {}
