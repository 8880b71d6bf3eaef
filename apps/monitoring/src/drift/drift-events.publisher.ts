import { Injectable } from '@nestjs/common';
import { DriftDetectedV1, type PipelineId, TrainingRequestedV1 } from '@keel/contracts';
import { Infrastructure } from '@keel/service-runtime';
import { type WindowReport } from './drift-window.repository';
import { DriftMetrics } from './drift.metrics';

/**
 * Publishes what a drifting window found: drift.detected, then a retraining request. Stable CloudEvent ids: a
 * re-evaluated window republishes the same drift event, and every drifting window of a version asks for retraining
 * under one id and one dedupe key, so a drifting model asks once.
 */
@Injectable()
export class DriftEventsPublisher {
  constructor(
    private readonly infra: Infrastructure,
    private readonly metrics: DriftMetrics,
  ) {}

  async publish(report: WindowReport, threshold: number): Promise<void> {
    const { pipelineId, modelVersion, windowIndex } = report;
    const drifted = report.features.filter((feature) => feature.drifted);
    await this.infra.publisher.publish(
      DriftDetectedV1,
      {
        pipelineId: pipelineId as PipelineId,
        modelName: report.modelName,
        modelVersion,
        windowStart: report.windowStart.toISOString(),
        windowEnd: report.windowEnd.toISOString(),
        rowCount: report.rowCount,
        drifted: drifted.map((feature) => ({
          feature: feature.feature,
          statistic: 'psi' as const,
          value: feature.psi,
          threshold,
          ...(Number.isFinite(feature.pValue) ? { pValue: Math.min(1, Math.max(0, feature.pValue)) } : {}),
        })),
      },
      { id: `drift-${pipelineId}-${modelVersion}-${windowIndex}` },
    );
    this.metrics.driftEvents.inc({ pipeline: pipelineId });
    await this.infra.publisher.publish(
      TrainingRequestedV1,
      {
        pipelineId: pipelineId as PipelineId,
        reason: 'drift',
        requestedBy: 'monitoring',
        dedupeKey: `${pipelineId}:drift:v${modelVersion}`,
        details:
          `PSI >= ${threshold} on ${drifted.map((f) => `${f.feature} (${f.psi.toFixed(3)})`).join(', ')} in window ${windowIndex} of ${report.modelName} v${modelVersion}`.slice(
            0,
            2_000,
          ),
      },
      { id: `retrain-drift-${pipelineId}-v${modelVersion}` },
    );
  }
}
