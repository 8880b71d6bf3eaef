import { Module } from '@nestjs/common';
import { DriftModule } from './drift/drift.module';
import { LabelsModule } from './labels/labels.module';
import { PredictionsModule } from './predictions/predictions.module';
import { RetentionModule } from './retention/retention.module';

/**
 * Prediction and label logs, drift and performance monitoring, and the retraining loop. Data flows predictions →
 * drift; retention sweeps what is older than configured.
 */
@Module({ imports: [PredictionsModule, DriftModule, LabelsModule, RetentionModule] })
export class MonitoringModule {}
