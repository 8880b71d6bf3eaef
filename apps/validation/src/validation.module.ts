import { Module } from '@nestjs/common';

/** Checks dataset versions against the inferred schema, reference statistics and bias rules; passes or rejects them. */
@Module({})
export class ValidationModule {}
