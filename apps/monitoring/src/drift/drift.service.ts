import { Inject, Injectable } from '@nestjs/common';
import { DriftDetectedV1, type PipelineSpecV1, TrainingRequestedV1, type PipelineId } from '@keel/contracts';
import { isRetryable } from '@keel/messaging';
import { Infrastructure, ROOT_LOGGER } from '@keel/service-runtime';
import { SpanStatusCode, trace } from '@opentelemetry/api';
import { type Logger } from 'pino';
import { PredictionLogRepository } from '../predictions/prediction-log.repository';
import { DriftMetrics } from './drift.metrics';
import { evaluateWindow } from './drift-evaluator';
import { DriftWindowRepository, type DriftWindowDocument } from './drift-window.repository';
import { PackageCache } from './package-cache';

const tracer = trace.getTracer('keel-monitoring');

/** A full window to evaluate. */
export interface WindowRef {
  pipelineId: string;
  modelVersion: number;
  windowIndex: number;
}

/**
 * Evaluates full drift windows against the model version's training reference, stores the report and, when a
 * feature's PSI reaches the pipeline's threshold, publishes drift.detected and asks for retraining.
 */
@Injectable()
export class DriftService {
  private readonly logger: Logger;

  constructor(
    private readonly infra: Infrastructure,
    private readonly windows: DriftWindowRepository,
    private readonly predictions: PredictionLogRepository,
    private readonly packages: PackageCache,
    private readonly metrics: DriftMetrics,
    @Inject(ROOT_LOGGER) logger: Logger,
  ) {
    this.logger = logger.child({ component: 'drift' });
  }

  /**
   * Evaluates every full window of the version that is still open, oldest first. Looking them up (rather than only
   * the window this event completed) makes a window whose evaluation failed get another try with the next event.
   * A failure that retrying cannot fix (unknown version, unreadable package) is recorded on the window and logged,
   * so it does not send the prediction events themselves to the dead-letter topic; anything else is rethrown.
   */
  async evaluateFullWindows(spec: PipelineSpecV1, modelVersion: number, fullWindows: number): Promise<void> {
    const open = await this.windows.openFullWindows(spec.id, modelVersion, fullWindows);
    for (const windowIndex of open) {
      const ref = { pipelineId: spec.id, modelVersion, windowIndex };
      try {
        await this.evaluate(ref, spec.monitoring.psiThreshold);
      } catch (error) {
        if (isRetryable(error)) throw error;
        const reason = (error as Error).message;
        this.logger.error({ ...ref, err: reason }, 'drift window cannot be evaluated');
        await this.windows.recordFailure(spec.id, modelVersion, windowIndex, reason);
      }
    }
  }

  /** Evaluates one window and publishes what it found; publishing comes before the report so no crash loses it. */
  async evaluate(ref: WindowRef, psiThreshold: number): Promise<void> {
    await tracer.startActiveSpan('evaluate drift window', async (span) => {
      span.setAttributes({
        'keel.pipeline.id': ref.pipelineId,
        'keel.model.version': ref.modelVersion,
        'keel.drift.window_index': ref.windowIndex,
        'keel.drift.psi_threshold': psiThreshold,
      });
      try {
        const rows = await this.predictions.windowRows(ref.pipelineId, ref.modelVersion, ref.windowIndex);
        span.setAttribute('keel.drift.row_count', rows.length);
        if (rows.length === 0) return;
        const modelName = rows[0].modelName;
        const pkg = await this.packages.get({ ...ref, modelName });
        const drift = evaluateWindow(
          pkg.reference,
          rows.map((row) => row.inputs),
          psiThreshold,
        );
        const times = rows.map((row) => row.servedAt.getTime());
        const report: Required<Omit<DriftWindowDocument, 'lastError'>> = {
          ...ref,
          status: 'evaluated',
          modelName,
          rowCount: rows.length,
          windowStart: new Date(Math.min(...times)),
          windowEnd: new Date(Math.max(...times)),
          features: drift.features.map(({ feature, psi, jensenShannon, pValue, drifted }) => ({
            feature,
            psi,
            jensenShannon,
            pValue,
            drifted,
          })),
          drifted: drift.drifted,
          evaluatedAt: new Date(),
        };
        const driftedFeatures = report.features.filter((feature) => feature.drifted);
        span.setAttributes({
          'keel.drift.drifted': report.drifted,
          'keel.drift.drifted_features': driftedFeatures.map((feature) => feature.feature).join(','),
          'keel.drift.max_psi': Math.max(0, ...report.features.map((feature) => feature.psi)),
        });
        if (report.drifted) await this.publishDrift(report, psiThreshold);
        await this.windows.saveReport(report);
        this.recordMetrics(report);
        this.logger.info(
          { ...ref, rowCount: report.rowCount, drifted: driftedFeatures.map((feature) => feature.feature) },
          'drift window evaluated',
        );
      } catch (error) {
        span.recordException(error as Error);
        span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
        throw error;
      } finally {
        span.end();
      }
    });
  }

  /**
   * Stable CloudEvent ids: a re-evaluated window republishes the same drift event, and every drifting window of a
   * version asks for retraining under one id and one dedupe key, so a drifting model asks once.
   */
  private async publishDrift(report: Required<Omit<DriftWindowDocument, 'lastError'>>, threshold: number) {
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

  private recordMetrics(report: Required<Omit<DriftWindowDocument, 'lastError'>>): void {
    for (const feature of report.features) {
      this.metrics.psi.set({ pipeline: report.pipelineId, feature: feature.feature }, feature.psi);
    }
    this.metrics.windowsEvaluated.inc({ pipeline: report.pipelineId, drifted: String(report.drifted) });
  }

  /** Evaluated windows of a pipeline, newest first. */
  reports(pipelineId: string, limit = 100): Promise<DriftWindowDocument[]> {
    return this.windows.reports(pipelineId, limit);
  }
}
