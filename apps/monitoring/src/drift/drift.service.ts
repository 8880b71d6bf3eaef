import { Inject, Injectable } from '@nestjs/common';
import {
  DriftDetectedV1,
  type PipelineId,
  type PipelineSpecV1,
  type Scalar,
  TrainingRequestedV1,
} from '@keel/contracts';
import { isRetryable } from '@keel/messaging';
import { Infrastructure, ROOT_LOGGER } from '@keel/service-runtime';
import { SpanStatusCode, trace } from '@opentelemetry/api';
import { type Logger } from 'pino';
import { KeyedLock } from '../keyed-lock';
import { type CounterDocument, PredictionLogRepository } from '../predictions/prediction-log.repository';
import { fullWindows } from '../predictions/windows';
import { DriftMetrics } from './drift.metrics';
import { addRows, emptySummaries, evaluateSummaries, summariesFromJson, summariesToJson } from './drift-evaluator';
import {
  type DriftWindowDocument,
  DriftWindowRepository,
  type ListedWindow,
  type WindowReport,
  windowId,
} from './drift-window.repository';
import { PackageCache } from './package-cache';

const tracer = trace.getTracer('keel-monitoring');

/** Rows of one predictions event that fall into one window. */
export interface WindowRows {
  pipelineId: string;
  modelName: string;
  modelVersion: number;
  windowIndex: number;
  /** The CloudEvent id, recorded on the window once merged. */
  eventId: string;
  servedAt: Date;
  inputs: readonly Readonly<Record<string, Scalar>>[];
}

const MAX_CONFLICTS = 50;

/**
 * Drift windows: merges served inputs into each window's mergeable summaries as they arrive, evaluates a full window
 * from its summaries against the model version's training reference, stores the report and, when a feature's PSI
 * reaches the pipeline's threshold, publishes drift.detected and asks for retraining. Every lookup is by `_id`.
 */
@Injectable()
export class DriftService {
  private readonly logger: Logger;
  private readonly windowLock = new KeyedLock();
  private readonly evaluationLock = new KeyedLock();

  constructor(
    private readonly infra: Infrastructure,
    private readonly windows: DriftWindowRepository,
    private readonly counters: PredictionLogRepository,
    private readonly packages: PackageCache,
    private readonly metrics: DriftMetrics,
    @Inject(ROOT_LOGGER) logger: Logger,
  ) {
    this.logger = logger.child({ component: 'drift' });
  }

  /**
   * Merges an event's rows into their window, once per event id (a redelivery finds its id applied). The window is
   * opened with the package's reference when its first rows arrive; a failure retrying cannot fix closes it as
   * failed and its rows are not merged; anything else is rethrown so the event is retried.
   */
  async merge(rows: WindowRows): Promise<void> {
    const id = windowId(rows.pipelineId, rows.modelVersion, rows.windowIndex);
    await this.windowLock.run(id, () => this.mergeOnce(id, rows));
  }

  private async mergeOnce(id: string, rows: WindowRows): Promise<void> {
    let window = await this.windows.get(id);
    for (let attempt = 0; attempt < MAX_CONFLICTS; attempt++) {
      if (!window) {
        const opened = await this.open(id, rows);
        window = (await this.windows.create(opened)) ? opened : await this.windows.get(id);
        continue;
      }
      if (window.status !== 'open' || (window.appliedEventIds ?? []).includes(rows.eventId)) return;
      const summaries = addRows(summariesFromJson(window.summariesJson!), rows.inputs);
      const merged = await this.windows.update(id, window.rev, {
        summariesJson: summariesToJson(summaries),
        rowCount: window.rowCount + rows.inputs.length,
        windowStart: earliest(window.windowStart, rows.servedAt),
        windowEnd: latest(window.windowEnd, rows.servedAt),
        appliedEventIds: [...(window.appliedEventIds ?? []), rows.eventId],
      });
      if (merged) return;
      window = await this.windows.get(id);
    }
    throw new Error(`drift window ${id} kept changing under ${MAX_CONFLICTS} merge attempts`);
  }

  /**
   * Evaluates the version's full windows from the counter's next one on, in order, and advances the counter past
   * those done (evaluated or failed). Stops at a window whose rows are not all merged yet: the event that merges
   * its last rows evaluates it. A retryable evaluation failure is rethrown, so the event's retry tries again.
   */
  async evaluateReady(spec: PipelineSpecV1, modelVersion: number, counter: CounterDocument): Promise<void> {
    // One evaluation pass per version at a time here, so a window is not evaluated twice concurrently.
    await this.evaluationLock.run(counter._id, () => this.evaluateReadyOnce(spec, modelVersion, counter));
  }

  private async evaluateReadyOnce(spec: PipelineSpecV1, modelVersion: number, counter: CounterDocument): Promise<void> {
    const { windowRows } = counter;
    const full = fullWindows(counter.count, windowRows);
    let next = counter.nextWindowToEvaluate;
    for (; next < full; next++) {
      const id = windowId(spec.id, modelVersion, next);
      const window = await this.windows.get(id);
      if (!window || (window.status === 'open' && window.rowCount < windowRows)) break;
      if (window.status !== 'open') continue;
      try {
        await this.evaluate(window, spec.monitoring.psiThreshold);
      } catch (error) {
        if (isRetryable(error)) throw error;
        const reason = (error as Error).message;
        this.logger.error(
          { pipelineId: spec.id, modelVersion, windowIndex: next, err: reason },
          'drift window cannot be evaluated',
        );
        await this.windows.recordFailure(id, reason);
      }
    }
    if (next > counter.nextWindowToEvaluate) await this.counters.evaluatedThrough(spec.id, modelVersion, next);
  }

  /** A new window: empty summaries on the reference's bins, or closed as failed when no reference can be had. */
  private async open(id: string, rows: WindowRows): Promise<DriftWindowDocument> {
    const { pipelineId, modelName, modelVersion, windowIndex } = rows;
    const window: DriftWindowDocument = {
      _id: id,
      pipelineId,
      modelVersion,
      windowIndex,
      modelName,
      status: 'open',
      rowCount: 0,
      appliedEventIds: [],
      rev: 0,
    };
    try {
      const pkg = await this.packages.get({ pipelineId, modelName, modelVersion });
      return { ...window, summariesJson: summariesToJson(emptySummaries(pkg.reference)) };
    } catch (error) {
      if (isRetryable(error)) throw error;
      const reason = (error as Error).message;
      this.logger.error({ pipelineId, modelVersion, windowIndex, err: reason }, 'drift window cannot be evaluated');
      return { ...window, status: 'failed', lastError: reason };
    }
  }

  /** Evaluates one full window and publishes what it found; publishing comes before the report so no crash loses it. */
  private async evaluate(window: DriftWindowDocument, psiThreshold: number): Promise<void> {
    const { pipelineId, modelVersion, windowIndex } = window;
    await tracer.startActiveSpan('evaluate drift window', async (span) => {
      span.setAttributes({
        'keel.pipeline.id': pipelineId,
        'keel.model.version': modelVersion,
        'keel.drift.window_index': windowIndex,
        'keel.drift.psi_threshold': psiThreshold,
        'keel.drift.row_count': window.rowCount,
      });
      try {
        const modelName = window.modelName!;
        const pkg = await this.packages.get({ pipelineId, modelName, modelVersion });
        const drift = evaluateSummaries(pkg.reference, summariesFromJson(window.summariesJson!), psiThreshold);
        const report: WindowReport = {
          pipelineId,
          modelVersion,
          windowIndex,
          modelName,
          rowCount: window.rowCount,
          windowStart: window.windowStart!,
          windowEnd: window.windowEnd!,
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
        await this.windows.saveReport(window._id, report);
        this.recordMetrics(report);
        this.logger.info(
          {
            pipelineId,
            modelVersion,
            windowIndex,
            rowCount: report.rowCount,
            drifted: driftedFeatures.map((feature) => feature.feature),
          },
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
  private async publishDrift(report: WindowReport, threshold: number) {
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

  private recordMetrics(report: WindowReport): void {
    for (const feature of report.features) {
      this.metrics.psi.set({ pipeline: report.pipelineId, feature: feature.feature }, feature.psi);
    }
    this.metrics.windowsEvaluated.inc({ pipeline: report.pipelineId, drifted: String(report.drifted) });
  }

  /** Evaluated windows of a pipeline, newest first. */
  reports(pipelineId: string, limit = 100): Promise<ListedWindow[]> {
    return this.windows.reports(pipelineId, limit);
  }
}

function earliest(a: Date | undefined, b: Date): Date {
  return a && a.getTime() <= b.getTime() ? a : b;
}

function latest(a: Date | undefined, b: Date): Date {
  return a && a.getTime() >= b.getTime() ? a : b;
}
