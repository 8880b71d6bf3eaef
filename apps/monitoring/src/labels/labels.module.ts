import { Module } from '@nestjs/common';
import { PerformanceModule } from '../performance/performance.module';
import { StreamModule } from '../stream/stream.module';
import { LabelCountsRepository } from './label-counts.repository';
import { LabelJoinMetrics } from './label-join.metrics';
import { LabelJoinRepository } from './label-join.repository';
import { LabelJoinService } from './label-join.service';
import { LabelLogRepository } from './label-log.repository';
import { LabelsConsumer } from './labels.consumer';
import { LabelsController } from './labels.controller';
import { LabelsService } from './labels.service';

/** Labels in (the intake), joined to archived predictions by pipeline and prediction id, counted per outcome. */
@Module({
  imports: [StreamModule, PerformanceModule],
  controllers: [LabelsController],
  providers: [
    LabelLogRepository,
    LabelsService,
    LabelsConsumer,
    LabelCountsRepository,
    LabelJoinRepository,
    LabelJoinMetrics,
    LabelJoinService,
  ],
  exports: [LabelLogRepository],
})
export class LabelsModule {}
