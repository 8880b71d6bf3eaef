import { Inject, Injectable } from '@nestjs/common';
import { type DriftSpec } from '@keel/contracts';
import { isRetryable } from '@keel/messaging';
import { type FeatureReference } from '@keel/model-package';
import { ROOT_LOGGER } from '@keel/service-runtime';
import { KeelAttr, withSpan } from '@keel/telemetry';
import { type Logger } from 'pino';
import { type ClosedWindow } from '../stream/partition-state';
import { RetryBudgetSpentError, retryUntilDone, STREAM_RETRY } from '../stream/retry-until-done';
import { type DriftTests } from './drift-evaluator';
import { DriftEvaluator } from './drift-evaluator.service';
import { DriftEventsPublisher } from './drift-events.publisher';
import { DriftWindowRepository, type ListedWindow, type WindowReport, windowId } from './drift-window.repository';
import { DriftMetrics } from './drift.metrics';

/** The pipeline's drift tests (its spec's `monitoring`): features', and prediction drift's. */
export interface WindowTests extends DriftTests {
  predictions?: DriftSpec['predictions'];
}

/** What evaluating a closed window needs besides the window. */
export interface WindowContext {
  /** The version's training reference; absent when the window failed for want of it. */
  reference?: Readonly<Record<string, FeatureReference>>;
  tests: WindowTests;
}

/** How long a window's evaluation may keep failing before the window is stored as failed (the runtime's budget). */
const EVALUATION_BUDGET_MS = 10 * 60 * 1000;

/**
 * Reports closed drift windows: evaluates a window's summaries against the version's training reference (on the
 * worker pool), publishes drift.detected and a retraining request when a feature's PSI reaches the pipeline's
 * threshold, and stores the report: one write per window. Reporting a window twice (a replay after a crash) gives the
 * same report, the same event ids and no second write.
 */
@Injectable()
export class DriftService {
  private readonly logger: Logger;

  constructor(
    private readonly windows: DriftWindowRepository,
    private readonly evaluator: DriftEvaluator,
    private readonly events: DriftEventsPublisher,
    private readonly metrics: DriftMetrics,
    @Inject(ROOT_LOGGER) logger: Logger,
  ) {
    this.logger = logger.child({ component: 'drift' });
  }

  /**
   * Reports a closed window; failures retrying can fix (the store or broker away) are retried with capped backoff
   * until they pass or `signal` aborts (the partition moved away or the service stops; the window is then reported
   * by whoever replays it).
   */
  async report(window: ClosedWindow, context: WindowContext, signal: AbortSignal): Promise<void> {
    const onRetry = (error: unknown, attempt: number) => {
      if (attempt !== 1) return;
      const { pipelineId, modelVersion, windowIndex } = window;
      this.logger.warn(
        { pipelineId, modelVersion, windowIndex, err: (error as Error).message },
        'reporting a drift window failed; retrying with backoff',
      );
    };
    try {
      await retryUntilDone(() => this.reportOnce(window, context), signal, onRetry, {
        ...STREAM_RETRY,
        budgetMs: EVALUATION_BUDGET_MS,
      });
    } catch (error) {
      if (!(error instanceof RetryBudgetSpentError)) throw error;
      await retryUntilDone(() => this.saveFailed(window, error.message), signal, onRetry);
    }
  }

  private async reportOnce(window: ClosedWindow, context: WindowContext): Promise<void> {
    let failure = window.failure;
    if (!failure && context.reference && window.summariesJson) {
      try {
        const report = await this.evaluate(window, context.reference, window.summariesJson, context.tests);
        if (report.drifted) await this.events.publish(report);
        await this.windows.saveClosed({ ...report, _id: idOf(window), status: 'evaluated' });
        this.recordMetrics(report);
        return;
      } catch (error) {
        if (isRetryable(error)) throw error;
        failure = (error as Error).message;
      }
    }
    await this.saveFailed(window, failure ?? 'the model version has no drift reference');
  }

  private async saveFailed(window: ClosedWindow, reason: string): Promise<void> {
    const { pipelineId, modelVersion, windowIndex } = window;
    this.logger.error({ pipelineId, modelVersion, windowIndex, err: reason }, 'drift window cannot be evaluated');
    await this.windows.saveClosed({
      _id: idOf(window),
      pipelineId,
      modelVersion,
      windowIndex,
      modelName: window.modelName,
      rowCount: window.rowCount,
      windowStart: new Date(window.windowStart),
      windowEnd: new Date(window.windowEnd),
      outputs: window.outputs,
      status: 'failed',
      lastError: reason,
      evaluatedAt: new Date(),
    });
  }

  private evaluate(
    window: ClosedWindow,
    reference: Readonly<Record<string, FeatureReference>>,
    summariesJson: string,
    tests: WindowTests,
  ): Promise<WindowReport> {
    const { pipelineId, modelVersion, windowIndex } = window;
    const attributes = {
      [KeelAttr.PIPELINE_ID]: pipelineId,
      [KeelAttr.MODEL_VERSION]: modelVersion,
      [KeelAttr.DRIFT_WINDOW_INDEX]: windowIndex,
      ...(tests.psiThreshold === undefined ? {} : { [KeelAttr.DRIFT_PSI_THRESHOLD]: tests.psiThreshold }),
      [KeelAttr.BATCH_SIZE]: window.rowCount,
    };
    return withSpan('evaluate drift window', attributes, async (span) => {
      const predictionDrift =
        window.predictionDrift && tests.predictions?.enabled !== false
          ? { ...window.predictionDrift, tests: tests.predictions }
          : undefined;
      const drift = await this.evaluator.evaluate(reference, summariesJson, tests, predictionDrift);
      const report: WindowReport = {
        pipelineId,
        modelVersion,
        windowIndex,
        modelName: window.modelName,
        rowCount: window.rowCount,
        windowStart: new Date(window.windowStart),
        windowEnd: new Date(window.windowEnd),
        features: drift.features.map(({ kind: _kind, currentCount: _count, ...line }) => line),
        ...(drift.predictions
          ? { predictions: drift.predictions.map(({ kind: _kind, currentCount: _count, ...line }) => line) }
          : {}),
        windowBy: window.windowBy,
        drifted: drift.drifted,
        outputs: window.outputs,
        evaluatedAt: new Date(),
      };
      const driftedFeatures = [
        ...report.features.filter((feature) => feature.drifted).map((feature) => feature.feature),
        ...(report.predictions ?? [])
          .filter((output) => output.drifted)
          .map((output) => `prediction:${output.feature}`),
      ];
      span.setAttributes({
        [KeelAttr.DRIFT_DRIFTED]: report.drifted,
        [KeelAttr.DRIFT_DRIFTED_FEATURES]: driftedFeatures.join(','),
        [KeelAttr.DRIFT_MAX_PSI]: Math.max(0, ...report.features.map((feature) => feature.psi)),
      });
      this.logger.info(
        { pipelineId, modelVersion, windowIndex, rowCount: report.rowCount, drifted: driftedFeatures },
        'drift window evaluated',
      );
      return report;
    });
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

function idOf(window: ClosedWindow): string {
  return windowId(window.pipelineId, window.modelVersion, window.windowIndex);
}
