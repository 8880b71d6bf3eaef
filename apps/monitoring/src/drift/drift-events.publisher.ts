import { Injectable } from '@nestjs/common';
import { DriftDetectedV1, type PipelineId } from '@keel/contracts';
import { Infrastructure } from '@keel/service-runtime';
import { type WindowReport } from './drift-window.repository';
import { DriftMetrics } from './drift.metrics';

/**
 * Publishes what a drifting window found: drift.detected, under a stable CloudEvent id (a re-evaluated window
 * republishes the same event). Whether it leads to a retrain is the retrain policy's decision (policy/).
 */
@Injectable()
export class DriftEventsPublisher {
  constructor(
    private readonly infra: Infrastructure,
    private readonly metrics: DriftMetrics,
  ) {}

  async publish(report: WindowReport): Promise<void> {
    const { pipelineId, modelVersion, windowIndex } = report;
    const drifted = [
      ...report.features.filter((line) => line.drifted).map((line) => ({ ...line, target: 'feature' as const })),
      ...(report.predictions ?? [])
        .filter((line) => line.drifted)
        .map((line) => ({ ...line, target: 'prediction' as const })),
    ];
    await this.infra.publisher.publish(
      DriftDetectedV1,
      {
        pipelineId: pipelineId as PipelineId,
        modelName: report.modelName,
        modelVersion,
        windowStart: report.windowStart.toISOString(),
        windowEnd: report.windowEnd.toISOString(),
        rowCount: report.rowCount,
        windowIndex,
        windowBy: report.windowBy,
        drifted: drifted.map((line) => ({
          feature: line.feature,
          target: line.target,
          statistic: line.statistic,
          value: line.value,
          threshold: line.threshold,
          ...(Number.isFinite(line.pValue) ? { pValue: Math.min(1, Math.max(0, line.pValue)) } : {}),
        })),
      },
      { id: `drift-${pipelineId}-${modelVersion}-${windowIndex}` },
    );
    this.metrics.driftEvents.inc({ pipeline: pipelineId });
  }
}
