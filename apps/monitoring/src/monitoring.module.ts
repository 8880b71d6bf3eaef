import { Module } from '@nestjs/common';

/** Prediction and label logs, drift and performance monitoring, and the retraining loop. */
@Module({})
export class MonitoringModule {}
