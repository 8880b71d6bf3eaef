import { Module } from '@nestjs/common';

/** Turns upstream data events, uploads and pulls into immutable, content-addressed dataset versions. */
@Module({})
export class IngestionModule {}
