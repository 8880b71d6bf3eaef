import { Module } from '@nestjs/common';
import { PredictionLogRepository } from './prediction-log.repository';

/** The prediction log and the version counters, shared by the predictions consumer and drift evaluation. */
@Module({ providers: [PredictionLogRepository], exports: [PredictionLogRepository] })
export class PredictionLogModule {}
