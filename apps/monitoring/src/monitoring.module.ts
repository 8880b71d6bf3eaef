import { Module } from '@nestjs/common';
import { AlertsModule } from './alerts/alerts.module';
import { DriftModule } from './drift/drift.module';
import { LabelsModule } from './labels/labels.module';
import { PolicyModule } from './policy/policy.module';
import { PredictionsModule } from './predictions/predictions.module';
import { RetentionModule } from './retention/retention.module';

/**
 * Prediction and label logs, drift and performance monitoring, and the retraining loop. Data flows predictions →
 * drift; the retrain policy decides on drift, labelled windows and new data; alerts go to the alerts topic and webhooks;
 * retention sweeps what is older than configured.
 */
@Module({ imports: [PredictionsModule, DriftModule, LabelsModule, RetentionModule, PolicyModule, AlertsModule] })
export class MonitoringModule {}
