import { Module } from '@nestjs/common';

/** Trains, tunes and evaluates models, records runs and emits model packages. */
@Module({})
export class TrainingModule {}
