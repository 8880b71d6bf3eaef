import { Injectable } from '@nestjs/common';
import { DriftDetectedV1, type EventData, type PipelineId } from '@keel/contracts';
import { Infrastructure } from '@keel/service-runtime';
import { type WindowReport } from './drift-window.repository';
import { DriftMetrics } from './drift.metrics';

/**
 * Publishes what a drifting window found: drift.detected, under a stable CloudEvent id (a re-evaluated window
 * republishes the same event); many windows go in one produce request. Whether it leads to a retrain is the retrain policy's decision (policy/).
 */
@Injectable()
export class DriftEventsPublisher {
  constructor(
    private readonly infra: Infrastructure,
    private readonly metrics: DriftMetrics,
  ) {}

  /** drift.detected for each drifting window, in one produce request (or a few). */
  async publishAll(reports: readonly WindowReport[]): Promise<void> {
    if (reports.length === 0) return;
    await this.infra.publisher.publishMany(DriftDetectedV1, reports.map(driftDetected));
    for (const report of reports) this.metrics.driftEvents.inc({ pipeline: report.pipelineId });
  }
}

function driftDetected(report: WindowReport): { data: EventData<typeof DriftDetectedV1>; options: { id: string } } {
  const { pipelineId, modelVersion, windowIndex } = report;
  const drifted = [
    ...report.features.filter((line) => line.drifted).map((line) => ({ ...line, target: 'feature' as const })),
    ...(report.predictions ?? [])
      .filter((line) => line.drifted)
      .map((line) => ({ ...line, target: 'prediction' as const })),
  ];
  return {
    data: {
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
    options: { id: `drift-${pipelineId}-${modelVersion}-${windowIndex}` },
  };
}
