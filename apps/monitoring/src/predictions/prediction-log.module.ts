import { Module } from '@nestjs/common';
import { PredictionLogRepository } from './prediction-log.repository';

/** The prediction log alone, shared by the predictions consumer and the drift evaluation that reads windows back. */
@Module({ providers: [PredictionLogRepository], exports: [PredictionLogRepository] })
export class PredictionLogModule {}
