import { Inject, Injectable } from '@nestjs/common';
import { type DriftSpec } from '@keel/contracts';
import { type FeatureReference } from '@keel/model-package';
import { isRetryable } from '@keel/messaging';
import { ROOT_LOGGER } from '@keel/service-runtime';
import { KeelAttr, withSpan } from '@keel/telemetry';
import { type SpanContext } from '@opentelemetry/api';
import { type Logger } from 'pino';
import { type ClosedWindow } from '../stream/partition-state';
import { RetryBudgetSpentError, retryUntilDone, STREAM_RETRY } from '../stream/retry-until-done';
import { type DriftTests } from './drift-evaluator';
import { DriftEvaluator } from './drift-evaluator.service';
import { DriftEventsPublisher } from './drift-events.publisher';
import {
  type DriftWindowDocument,
  DriftWindowRepository,
  type ListedWindow,
  type WindowReport,
  windowId,
} from './drift-window.repository';
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

/** A closed window to report, with what evaluating it needs and the span of the batch that closed it. */
export interface WindowToReport {
  window: ClosedWindow;
  context: WindowContext;
  /** The span that applied the prediction batch closing the window (the request's trace), linked from the report's. */
  closedIn?: SpanContext;
}

/** Links per report span: OpenTelemetry's default limit; further windows are counted in the span's attributes. */
const MAX_LINKS = 128;

/**
 * Reports closed drift windows, many at a time: evaluates them against their versions' training references in one
 * worker task, publishes drift.detected for those that drifted (one produce request), and stores every report in one
 * insert (`drift_windows`): a handful of commands per batch of windows, however small the windows. Reporting a
 * window twice (a replay after a crash) gives the same report, the same event id and no second document.
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
   * Reports closed windows; failures retrying can fix (the store, broker or worker away) are retried with capped
   * backoff until they pass or `signal` aborts (the partition moved away or the service stops; the windows are then
   * reported by whoever replays them). Evaluation that keeps failing past its budget stores the windows as failed.
   */
  async reportAll(items: readonly WindowToReport[], signal: AbortSignal): Promise<void> {
    if (items.length === 0) return;
    const onRetry = (error: unknown, attempt: number) => {
      if (attempt !== 1) return;
      this.logger.warn(
        { windows: items.length, first: idOf(items[0].window), err: (error as Error).message },
        'reporting drift windows failed; retrying with backoff',
      );
    };
    const links = items.slice(0, MAX_LINKS).flatMap((item) => (item.closedIn ? [{ context: item.closedIn }] : []));
    const attributes = {
      [KeelAttr.PIPELINE_ID]: items[0].window.pipelineId,
      [KeelAttr.MODEL_VERSION]: items[0].window.modelVersion,
      [KeelAttr.DRIFT_WINDOW_INDEX]: items[0].window.windowIndex,
      [KeelAttr.BATCH_SIZE]: items.length,
    };
    await withSpan(
      'report drift windows',
      attributes,
      async (span) => {
        let documents: DriftWindowDocument[];
        try {
          documents = await retryUntilDone(() => this.evaluateAll(items), signal, onRetry, {
            ...STREAM_RETRY,
            budgetMs: EVALUATION_BUDGET_MS,
          });
        } catch (error) {
          if (!(error instanceof RetryBudgetSpentError)) throw error;
          documents = items.map(({ window }) => failedDocument(window, error.message));
        }
        const reports = documents.filter(
          (document): document is DriftWindowDocument & WindowReport => document.status === 'evaluated',
        );
        const drifted = reports.filter((report) => report.drifted);
        span.setAttributes({
          [KeelAttr.DRIFT_DRIFTED]: drifted.length > 0,
          [KeelAttr.DRIFT_DRIFTED_FEATURES]: [...new Set(drifted.flatMap(driftedFeatures))].join(','),
          [KeelAttr.DRIFT_MAX_PSI]: Math.max(0, ...reports.flatMap((report) => report.features.map((f) => f.psi))),
        });
        await retryUntilDone(() => this.events.publishAll(drifted), signal, onRetry);
        await retryUntilDone(() => this.windows.saveAllClosed(documents), signal, onRetry);
        for (const report of reports) this.recordMetrics(report);
        this.logReports(documents);
      },
      { links },
    );
  }

  /** Every window's report, or its failure: one worker task for all. */
  private async evaluateAll(items: readonly WindowToReport[]): Promise<DriftWindowDocument[]> {
    const evaluable = items.filter(
      ({ window, context }) => !window.failure && context.reference && window.summariesJson,
    );
    const evaluated = this.evaluator.evaluateMany(
      evaluable.map(({ window, context }) => ({
        reference: context.reference!,
        summariesJson: window.summariesJson!,
        tests: context.tests,
        ...(window.predictionDrift && context.tests.predictions?.enabled !== false
          ? { predictionDrift: { ...window.predictionDrift, tests: context.tests.predictions } }
          : {}),
      })),
    );
    let results: Awaited<typeof evaluated>;
    try {
      results = await evaluated;
    } catch (error) {
      // The worker is away (retried), or the task itself fails: then every window of the batch failed.
      if (isRetryable(error)) throw error;
      results = evaluable.map(() => ({ error: (error as Error).message }));
    }
    const byWindow = new Map(evaluable.map((item, i) => [item, results[i]]));
    return items.map((item) => {
      const { window } = item;
      const result = byWindow.get(item);
      if (!result) return failedDocument(window, window.failure ?? 'the model version has no drift reference');
      if ('error' in result) return failedDocument(window, result.error);
      const { drift } = result;
      const report: WindowReport = {
        ...windowFields(window),
        features: drift.features.map(({ kind: _kind, currentCount: _count, ...line }) => line),
        ...(drift.predictions
          ? { predictions: drift.predictions.map(({ kind: _kind, currentCount: _count, ...line }) => line) }
          : {}),
        windowBy: window.windowBy,
        drifted: drift.drifted,
        evaluatedAt: new Date(),
      };
      return { ...report, _id: idOf(window), status: 'evaluated' as const };
    });
  }

  private logReports(documents: readonly DriftWindowDocument[]): void {
    for (const document of documents) {
      const { pipelineId, modelVersion, windowIndex } = document;
      if (document.status === 'failed') {
        this.logger.error(
          { pipelineId, modelVersion, windowIndex, err: document.lastError },
          'drift window cannot be evaluated',
        );
      } else if (document.drifted) {
        this.logger.info(
          { pipelineId, modelVersion, windowIndex, rowCount: document.rowCount, drifted: driftedFeatures(document) },
          'drift window evaluated',
        );
      }
    }
    const first = documents[0];
    this.logger.info(
      {
        pipelineId: first.pipelineId,
        windows: documents.length,
        firstWindowIndex: first.windowIndex,
        drifted: documents.filter((document) => document.drifted).length,
        failed: documents.filter((document) => document.status === 'failed').length,
      },
      'drift windows reported',
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

/** Features (and `prediction:<output>`s) a report found drifted. */
function driftedFeatures(report: Pick<DriftWindowDocument, 'features' | 'predictions'>): string[] {
  return [
    ...(report.features ?? []).filter((feature) => feature.drifted).map((feature) => feature.feature),
    ...(report.predictions ?? []).filter((output) => output.drifted).map((output) => `prediction:${output.feature}`),
  ];
}

/** What every stored window says of itself, evaluated or not. */
function windowFields(window: ClosedWindow) {
  return {
    pipelineId: window.pipelineId,
    modelVersion: window.modelVersion,
    windowIndex: window.windowIndex,
    modelName: window.modelName,
    rowCount: window.rowCount,
    windowStart: new Date(window.windowStart),
    windowEnd: new Date(window.windowEnd),
    outputs: window.outputs,
  };
}

/** The document of a window that cannot be evaluated. */
function failedDocument(window: ClosedWindow, reason: string): DriftWindowDocument {
  return {
    _id: idOf(window),
    ...windowFields(window),
    status: 'failed',
    lastError: reason,
    evaluatedAt: new Date(),
  };
}

function idOf(window: ClosedWindow): string {
  return windowId(window.pipelineId, window.modelVersion, window.windowIndex);
}
