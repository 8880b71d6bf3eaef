import { Module } from '@nestjs/common';
import { DriftModule } from './drift/drift.module';
import { LabelsModule } from './labels/labels.module';
import { PredictionsModule } from './predictions/predictions.module';

/** Prediction and label logs, drift and performance monitoring, and the retraining loop. Data flows predictions → drift. */
@Module({ imports: [PredictionsModule, DriftModule, LabelsModule] })
export class MonitoringModule {}
