import { Module } from '@nestjs/common';
import { DriftModule } from '../drift/drift.module';
import { LabelsModule } from '../labels/labels.module';
import { PredictionsModule } from '../predictions/predictions.module';
import { LabelRetention } from './label-retention';
import { RetentionService } from './retention.service';

/**
 * Deletes prediction logs and the archive, labels and what the label join and performance keep of them, and closed
 * drift windows older than their configured retention.
 */
@Module({ imports: [PredictionsModule, LabelsModule, DriftModule], providers: [RetentionService, LabelRetention] })
export class RetentionModule {}
