import { Module } from '@nestjs/common';
import { DriftModule } from '../drift/drift.module';
import { LabelsModule } from '../labels/labels.module';
import { PredictionsModule } from '../predictions/predictions.module';
import { RetentionService } from './retention.service';

/** Deletes prediction logs, labels and closed drift windows older than their configured retention. */
@Module({ imports: [PredictionsModule, LabelsModule, DriftModule], providers: [RetentionService] })
export class RetentionModule {}
