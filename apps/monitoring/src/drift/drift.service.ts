import { Inject, Injectable } from '@nestjs/common';
import { type PipelineSpecV1, type Scalar } from '@keel/contracts';
import { isRetryable } from '@keel/messaging';
import { ROOT_LOGGER } from '@keel/service-runtime';
import { KeelAttr, withSpan } from '@keel/telemetry';
import { type Logger } from 'pino';
import { KeyedLock } from '../keyed-lock';
import { DriftEventsPublisher } from './drift-events.publisher';
import { addRows, emptySummaries, summariesFromJson, summariesToJson } from './drift-evaluator';
import { DriftEvaluator } from './drift-evaluator.service';
import {
  type DriftWindowDocument,
  DriftWindowRepository,
  type ListedWindow,
  type WindowReport,
  windowId,
} from './drift-window.repository';
import { DriftMetrics } from './drift.metrics';
import { PackageCache } from './package-cache';
import { type CounterDocument, WindowCounterRepository } from './window-counter.repository';
import { fullWindows, rowsByWindow } from './window-numbering';

/** Rows of one predictions event that the prediction log took for the first time, handed on to drift. */
export interface LoggedRows {
  /** The CloudEvent id: its rows are numbered, and merged into their windows, once. */
  eventId: string;
  pipelineId: string;
  modelName: string;
  modelVersion: number;
  servedAt: Date;
  inputs: readonly Readonly<Record<string, Scalar>>[];
}

/** Rows of one predictions event that fall into one window. */
interface WindowRows extends LoggedRows {
  windowIndex: number;
}

const MAX_CONFLICTS = 50;

/**
 * Drift windows of each model version: numbers logged rows on the version's counter, merges them into their
 * windows' mergeable summaries, evaluates a full window from its summaries against the version's training
 * reference, stores the report and, when a feature's PSI reaches the pipeline's threshold, publishes drift.detected
 * and asks for retraining. A redelivered event has one effect: it gets the numbers it had and merges once.
 */
@Injectable()
export class DriftService {
  private readonly logger: Logger;
  private readonly windowLock = new KeyedLock();
  private readonly evaluationLock = new KeyedLock();

  constructor(
    private readonly windows: DriftWindowRepository,
    private readonly counters: WindowCounterRepository,
    private readonly packages: PackageCache,
    private readonly events: DriftEventsPublisher,
    private readonly metrics: DriftMetrics,
    @Inject(ROOT_LOGGER) logger: Logger,
    private readonly evaluator: DriftEvaluator,
  ) {
    this.logger = logger.child({ component: 'drift' });
  }

  /**
   * Takes an event's newly logged rows: numbers them on the version's counter (window size from the spec when the
   * version's first rows arrive), merges them into their windows and evaluates the windows that are full. Returns
   * how many predictions of the version are numbered so far.
   */
  async record(spec: PipelineSpecV1, rows: LoggedRows): Promise<number> {
    const { allocation, counter } = await this.counters.allocate(
      rows.pipelineId,
      rows.modelVersion,
      rows.eventId,
      rows.inputs.length,
      spec.monitoring.windowRows,
    );
    for (const [windowIndex, inputs] of rowsByWindow(allocation, rows.inputs, counter.windowRows)) {
      await this.merge({ ...rows, windowIndex, inputs });
    }
    await this.evaluateReady(spec, rows.modelVersion, counter);
    return counter.count;
  }

  /**
   * Merges an event's rows into their window, once per event id (a redelivery finds its id applied). The window is
   * opened with the package's reference when its first rows arrive; a failure retrying cannot fix closes it as
   * failed and its rows are not merged; anything else is rethrown so the event is retried.
   */
  private async merge(rows: WindowRows): Promise<void> {
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
      const merged = await this.windows.update(window, {
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
  private async evaluateReady(spec: PipelineSpecV1, modelVersion: number, counter: CounterDocument): Promise<void> {
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
        await this.windows.recordFailure(id, this.failureReason(error, window));
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
      return { ...window, status: 'failed', lastError: this.failureReason(error, window) };
    }
  }

  /** Why a window fails for good; a retryable error is rethrown instead, so the event is retried. */
  private failureReason(
    error: unknown,
    { pipelineId, modelVersion, windowIndex }: Pick<DriftWindowDocument, 'pipelineId' | 'modelVersion' | 'windowIndex'>,
  ): string {
    if (isRetryable(error)) throw error;
    const reason = (error as Error).message;
    this.logger.error({ pipelineId, modelVersion, windowIndex, err: reason }, 'drift window cannot be evaluated');
    return reason;
  }

  /** Evaluates one full window and publishes what it found; publishing comes before the report so no crash loses it. */
  private async evaluate(window: DriftWindowDocument, psiThreshold: number): Promise<void> {
    const { pipelineId, modelVersion, windowIndex } = window;
    const attributes = {
      [KeelAttr.PIPELINE_ID]: pipelineId,
      [KeelAttr.MODEL_VERSION]: modelVersion,
      [KeelAttr.DRIFT_WINDOW_INDEX]: windowIndex,
      [KeelAttr.DRIFT_PSI_THRESHOLD]: psiThreshold,
      [KeelAttr.BATCH_SIZE]: window.rowCount,
    };
    await withSpan('evaluate drift window', attributes, async (span) => {
      const modelName = window.modelName!;
      const pkg = await this.packages.get({ pipelineId, modelName, modelVersion });
      const drift = await this.evaluator.evaluate(pkg.reference, window.summariesJson!, psiThreshold);
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
      const driftedFeatures = report.features.filter((feature) => feature.drifted).map((feature) => feature.feature);
      span.setAttributes({
        [KeelAttr.DRIFT_DRIFTED]: report.drifted,
        [KeelAttr.DRIFT_DRIFTED_FEATURES]: driftedFeatures.join(','),
        [KeelAttr.DRIFT_MAX_PSI]: Math.max(0, ...report.features.map((feature) => feature.psi)),
      });
      if (report.drifted) await this.events.publish(report, psiThreshold);
      await this.windows.saveReport(window._id, report);
      this.recordMetrics(report);
      this.logger.info(
        { pipelineId, modelVersion, windowIndex, rowCount: report.rowCount, drifted: driftedFeatures },
        'drift window evaluated',
      );
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

function earliest(a: Date | undefined, b: Date): Date {
  return a && a.getTime() <= b.getTime() ? a : b;
}

function latest(a: Date | undefined, b: Date): Date {
  return a && a.getTime() >= b.getTime() ? a : b;
}
