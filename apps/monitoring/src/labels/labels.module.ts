import { Module } from '@nestjs/common';
import { LabelLogRepository } from './label-log.repository';
import { LabelsConsumer } from './labels.consumer';
import { LabelsService } from './labels.service';

/** The label log: ground truth joined to predictions by predictionId. */
@Module({ providers: [LabelLogRepository, LabelsService, LabelsConsumer], exports: [LabelLogRepository] })
export class LabelsModule {}
