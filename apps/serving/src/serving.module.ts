import { Module } from '@nestjs/common';

/** Open Inference Protocol v2 over gRPC with hot swaps and progressive rollouts. */
@Module({})
export class ServingModule {}
