import { Module } from '@nestjs/common';
import { PerformanceController } from './performance.controller';
import { PerformanceMetrics } from './performance.metrics';
import { PerformanceRepository } from './performance.repository';
import { PerformanceService } from './performance.service';

/** Performance on joined labels per model version: label windows, concept drift, CBPE estimates; fed by the label join. */
@Module({
  controllers: [PerformanceController],
  providers: [PerformanceRepository, PerformanceService, PerformanceMetrics],
  exports: [PerformanceRepository, PerformanceMetrics],
})
export class PerformanceModule {}
