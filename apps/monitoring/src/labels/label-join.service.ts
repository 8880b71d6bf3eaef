import { setTimeout as sleep } from 'node:timers/promises';
import { Inject, Injectable, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { LabelWindowClosedV1, type PipelineSpecV1 } from '@keel/contracts';
import { type LeaseScope, type Leases, LeaseLostError, leasesOn, processHolderId, withLease } from '@keel/coordination';
import { cbpe } from '@keel/ml-stats';
import { UnknownPipelineError } from '@keel/pipelines';
import {
  Infrastructure,
  ROOT_LOGGER,
  SERVICE_CONFIG,
  SERVICE_IDENTITY,
  type ServiceIdentity,
} from '@keel/service-runtime';
import { KeelAttr, withSpan } from '@keel/telemetry';
import { type Logger } from 'pino';
import { type ArchivedPrediction, PredictionArchive } from '../archive/prediction-archive';
import { type MonitoringConfig } from '../config';
import { PerformanceLedger, windowEvent } from '../performance/performance-ledger';
import { PerformanceMetrics } from '../performance/performance.metrics';
import { type LabelWindowEvent, PerformanceRepository } from '../performance/performance.repository';
import { DECISION_THRESHOLD, UNKNOWN_CLASS } from '../performance/performance-metrics';
import { type PerformanceSettings, type VersionPerformance } from '../performance/version-performance';
import { predictionKey } from '../prediction-key';
import { type JoinCounts, LabelCountsRepository } from './label-counts.repository';
import { type JoinRecord, LabelJoinRepository } from './label-join.repository';
import { LabelJoinMetrics } from './label-join.metrics';
import { LabelLogRepository, type PendingLabel } from './label-log.repository';

/** One replica joins at a time; a holder that dies frees the lease after this. */
const JOIN_LEASE_TTL_MS = 15_000;
export const LABEL_JOIN_LEASE = 'monitoring-label-join';
const HOUR_MS = 60 * 60 * 1000;
/** Other pipelines' archives asked at once for labels that match none of their own pipeline's predictions. */
const ELSEWHERE_CONCURRENCY = 8;
const DAY_MS = 24 * HOUR_MS;

/**
 * A joined label's prediction as performance reads it; undefined when its outputs or label cannot be scored.
 * Multiclass: the predicted and the true class as indices in the spec's declared classes; a true label outside them
 * is UNKNOWN_CLASS (counted in its window and scored as an error), a predicted one outside them cannot be scored.
 */
export function scoredRow(
  spec: PipelineSpecV1,
  prediction: Pick<ArchivedPrediction, 'outputs'>,
  label: number | string,
): { score: number; label: number } | undefined {
  if (spec.task === 'multiclass-classification') {
    const classes = spec.target.classes ?? [];
    const predicted = classes.indexOf(String(prediction.outputs.label));
    if (predicted < 0 || label === '') return undefined;
    const index = classes.indexOf(String(label));
    return { score: predicted, label: index < 0 ? UNKNOWN_CLASS : index };
  }
  if (spec.task === 'regression') {
    const score = prediction.outputs.prediction;
    const value = typeof label === 'number' ? label : Number(label);
    return typeof score === 'number' && Number.isFinite(score) && Number.isFinite(value) && label !== ''
      ? { score, label: value }
      : undefined;
  }
  const score = prediction.outputs.probability;
  if (typeof score !== 'number' || !Number.isFinite(score)) return undefined;
  return { score, label: String(label) === String(spec.target.positive) ? 1 : 0 };
}

/**
 * The label join. Labels are stored pending by the intake (LabelsService); every LABEL_JOIN_INTERVAL_MS the replica
 * holding the join lease takes each pipeline's pending labels in bulk (at most LABEL_JOIN_BATCH), looks their
 * prediction ids up in the pipeline's archive at once, and settles each: joined (its model version's label window
 * and concept-drift detector advance), duplicate (its prediction already has a settled label: the first stays),
 * still waiting (not archived yet, for at most LABEL_JOIN_WAIT_MS), then unmatched: served by another pipeline, or
 * unknown. Outcomes are inserted once per prediction (`label_joins`), the version states and the events of the
 * windows they closed are saved together (an outbox), the events published under stable ids, and only then the
 * labels marked settled: a crash anywhere replays the round to the same effect.
 */
@Injectable()
export class LabelJoinService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger: Logger;
  private readonly leases: Leases;
  private readonly holder: string;
  private readonly stopping = new AbortController();
  private loop: Promise<void> = Promise.resolve();

  constructor(
    private readonly infra: Infrastructure,
    private readonly labels: LabelLogRepository,
    private readonly joins: LabelJoinRepository,
    private readonly counts: LabelCountsRepository,
    private readonly archive: PredictionArchive,
    private readonly performance: PerformanceRepository,
    private readonly metrics: LabelJoinMetrics,
    private readonly performanceMetrics: PerformanceMetrics,
    @Inject(SERVICE_CONFIG) private readonly config: MonitoringConfig,
    @Inject(ROOT_LOGGER) logger: Logger,
    @Inject(SERVICE_IDENTITY) identity: ServiceIdentity,
  ) {
    this.logger = logger.child({ component: 'label-join' });
    this.leases = leasesOn(infra.mongo);
    this.holder = processHolderId(identity.name);
  }

  onApplicationBootstrap(): void {
    this.loop = this.run();
  }

  async onModuleDestroy(): Promise<void> {
    this.stopping.abort(new Error('monitoring is stopping'));
    await this.loop;
  }

  private async run(): Promise<void> {
    while (!this.stopping.signal.aborted) {
      try {
        await withLease(this.leases, LABEL_JOIN_LEASE, this.holder, JOIN_LEASE_TTL_MS, (scope) =>
          this.joinWhileHeld(scope),
        );
      } catch (error) {
        this.logger.warn({ err: error }, 'label join interrupted; starting again from the store');
      }
      await this.pause(this.stopping.signal);
    }
  }

  /** Rounds until the lease is lost, the service stops or a round fails (the next session reloads from the store). */
  private async joinWhileHeld(scope: LeaseScope): Promise<void> {
    const ledger = new PerformanceLedger(this.performance, scope.lease.epoch);
    const joinCounts = new Map<string, JoinCounts>();
    const signal = AbortSignal.any([scope.signal, this.stopping.signal]);
    while (!signal.aborted) {
      const stopTimer = this.metrics.roundSeconds.startTimer();
      try {
        await this.round(scope, ledger, joinCounts);
        this.metrics.rounds.inc({ result: 'done' });
      } catch (error) {
        this.metrics.rounds.inc({ result: 'failed' });
        throw error;
      } finally {
        stopTimer();
      }
      await this.pause(signal);
    }
  }

  private async pause(signal: AbortSignal): Promise<void> {
    await sleep(this.config.LABEL_JOIN_INTERVAL_MS, undefined, { signal }).catch(() => undefined);
  }

  /** One round: every pipeline with pending labels. */
  async round(scope: LeaseScope, ledger: PerformanceLedger, joinCounts: Map<string, JoinCounts>): Promise<void> {
    for (const pipelineId of await this.labels.pendingPipelines()) {
      scope.assertHeld();
      let counts = joinCounts.get(pipelineId);
      if (!counts) {
        counts = { ...(await this.counts.read(pipelineId)).join };
        joinCounts.set(pipelineId, counts);
      }
      try {
        await withSpan('label-join.pipeline', { [KeelAttr.PIPELINE_ID]: pipelineId }, () =>
          this.joinPipeline(pipelineId, scope, ledger, counts!),
        );
      } catch (error) {
        if (error instanceof LeaseLostError) throw error;
        // One pipeline's failure (its archive or store unreachable) leaves the others joining; its state is reloaded.
        this.logger.warn({ pipelineId, err: error }, 'label join of a pipeline failed; retrying next round');
        ledger.forget(pipelineId);
        joinCounts.delete(pipelineId);
      }
    }
  }

  private async joinPipeline(
    pipelineId: string,
    scope: LeaseScope,
    ledger: PerformanceLedger,
    counts: JoinCounts,
  ): Promise<void> {
    const now = Date.now();
    const pending = await this.labels.pending(pipelineId, this.config.LABEL_JOIN_BATCH);
    if (pending.length === 0) return;
    const existing = await this.joins.find(pending.map((label) => label.key));
    const fresh = pending.filter((label) => !existing.has(label.key));
    const served = new Map(
      fresh.length === 0
        ? []
        : (
            await this.archive.find(
              pipelineId,
              fresh.map((label) => label.predictionId),
            )
          ).map((p) => [p.predictionId, p]),
    );
    let spec: PipelineSpecV1 | undefined;
    const specOf = async () => (spec ??= (await this.infra.pipelines.getModelPipeline(pipelineId)).spec);

    const settled: PendingLabel[] = [];
    const replays: JoinRecord[] = [];
    const records: JoinRecord[] = [];
    const expired: PendingLabel[] = [];
    const touched = new Map<VersionPerformance, LabelWindowEvent[]>();
    const closedRows = new Map<VersionPerformance, ClosedRows[]>();
    let waiting = 0;

    for (const label of pending) {
      const record = existing.get(label.key);
      if (!record) continue;
      settled.push(label);
      // The same label met again: a round settled it and stopped before marking it. Anything else is a duplicate.
      if (record.labelReceivedAt.getTime() === label.receivedAt.getTime()) {
        if (record.outcome === 'joined') replays.push(record);
      } else {
        counts.duplicate += 1;
        this.metrics.outcomes.inc({ pipeline: pipelineId, outcome: 'duplicate' });
      }
    }
    // Joins a crashed round inserted but did not save in its version's state are applied first, in their order.
    for (const record of replays.sort((a, b) => a.seq! - b.seq!)) {
      const performance = await ledger.version(
        { pipelineId, modelName: record.modelName!, modelVersion: record.modelVersion! },
        async () => settingsOf(await specOf()),
      );
      if (record.seq !== performance.joined) continue;
      this.apply(
        performance,
        { score: record.score!, label: record.label!, servedAt: record.servedAt! },
        touched,
        closedRows,
      );
    }

    // Keys settled earlier in this round: a label sent again for one of them waits beside it, and is a duplicate.
    const seen = new Set<string>();
    for (const label of fresh) {
      if (seen.has(label.key)) {
        settled.push(label);
        counts.duplicate += 1;
        this.metrics.outcomes.inc({ pipeline: pipelineId, outcome: 'duplicate' });
        continue;
      }
      const prediction = served.get(label.predictionId);
      if (!prediction) {
        if (now - label.receivedAt.getTime() >= this.config.LABEL_JOIN_WAIT_MS) {
          expired.push(label);
          seen.add(label.key);
        } else {
          waiting += 1;
        }
        continue;
      }
      seen.add(label.key);
      settled.push(label);
      const currentSpec = await specOf().catch((error: unknown) => {
        if (error instanceof UnknownPipelineError) return undefined;
        throw error;
      });
      const row = currentSpec && scoredRow(currentSpec, prediction, label.label);
      if (!currentSpec || !row) {
        records.push(this.record(label, 'invalid', now));
        counts.invalid += 1;
        this.metrics.outcomes.inc({ pipeline: pipelineId, outcome: 'invalid' });
        continue;
      }
      const performance = await ledger.version(
        { pipelineId, modelName: prediction.modelName, modelVersion: prediction.modelVersion },
        async () => settingsOf(currentSpec),
      );
      records.push({
        ...this.record(label, 'joined', now),
        modelName: prediction.modelName,
        modelVersion: prediction.modelVersion,
        seq: performance.joined,
        score: row.score,
        label: row.label,
        servedAt: prediction.servedAt,
      });
      if (currentSpec.task === 'multiclass-classification' && row.label === UNKNOWN_CLASS) {
        // Joined and scored as an error; counted so an undeclared class in the labels is visible, not silent.
        this.metrics.outcomes.inc({ pipeline: pipelineId, outcome: 'unknown-class' });
      }
      const { outOfOrder } = this.apply(performance, { ...row, servedAt: prediction.servedAt }, touched, closedRows);
      const delay = label.receivedAt.getTime() - prediction.servedAt;
      counts.joined += 1;
      if (delay > HOUR_MS) counts.lateOverHour += 1;
      if (delay > DAY_MS) counts.lateOverDay += 1;
      if (outOfOrder) counts.outOfOrder += 1;
      this.metrics.outcomes.inc({ pipeline: pipelineId, outcome: 'joined' });
      if (delay > HOUR_MS) this.metrics.outcomes.inc({ pipeline: pipelineId, outcome: 'late-hour' });
      if (delay > DAY_MS) this.metrics.outcomes.inc({ pipeline: pipelineId, outcome: 'late-day' });
      if (outOfOrder) this.metrics.outcomes.inc({ pipeline: pipelineId, outcome: 'out-of-order' });
      this.metrics.delaySeconds.observe({ pipeline: pipelineId }, Math.max(0, delay) / 1000);
    }

    if (expired.length > 0) {
      const elsewhere = await this.servedElsewhere(pipelineId, expired);
      for (const label of expired) {
        const outcome = elsewhere.has(label.predictionId) ? 'other-pipeline' : 'unknown';
        records.push(this.record(label, outcome, now));
        settled.push(label);
        if (outcome === 'other-pipeline') counts.otherPipeline += 1;
        else counts.unknown += 1;
        this.metrics.outcomes.inc({ pipeline: pipelineId, outcome });
      }
    }
    counts.waiting = waiting;
    this.metrics.waiting.set({ pipeline: pipelineId }, waiting);

    const settledNow = new Set(records.map((record) => record._id));
    for (const [performance, events] of touched) {
      const closed = closedRows.get(performance) ?? [];
      if (closed.length > 0 && performance.settings.task === 'binary-classification') {
        const waitingScores = await this.waitingScores(performance, settledNow);
        for (const { event, scores, labels } of closed) {
          const estimated = estimate(waitingScores, { scores, labels });
          if (estimated) event.estimated = estimated;
        }
      }
      ledger.touch(performance, events);
    }
    scope.assertHeld();
    await this.joins.insert(records);
    const outboxes = await ledger.save();
    await this.counts.setJoin(pipelineId, counts);
    for (const outbox of outboxes) {
      for (const event of outbox.events) {
        await this.infra.publisher.publish(LabelWindowClosedV1, event, {
          id: `label-window-${event.pipelineId}-v${event.modelVersion}-${event.windowIndex}`,
        });
        this.observeWindow(event);
      }
      await ledger.published(outbox.pipelineId, outbox.modelVersion);
    }
    await this.labels.settle(settled);
  }

  private apply(
    performance: VersionPerformance,
    row: { score: number; label: number; servedAt: number },
    touched: Map<VersionPerformance, LabelWindowEvent[]>,
    closedRows: Map<VersionPerformance, ClosedRows[]>,
  ): { outOfOrder: boolean } {
    const events = touched.get(performance) ?? [];
    touched.set(performance, events);
    const { closed, outOfOrder } = performance.add(row);
    if (closed) {
      const event = windowEvent(performance, closed);
      events.push(event);
      closedRows.set(performance, [
        ...(closedRows.get(performance) ?? []),
        { event, scores: closed.scores, labels: closed.labels },
      ]);
    }
    return { outOfOrder };
  }

  private record(label: PendingLabel, outcome: JoinRecord['outcome'], now: number): JoinRecord {
    return {
      _id: label.key,
      pipelineId: label.pipelineId,
      predictionId: label.predictionId,
      outcome,
      labelReceivedAt: label.receivedAt,
      settledAt: new Date(now),
    };
  }

  /**
   * Prediction ids of `labels` that another pipeline's archive holds: their Bloom filters first (cached), a few
   * pipelines at a time. Runs only for labels whose wait ran out, so its cost follows the unmatched labels.
   */
  private async servedElsewhere(pipelineId: string, labels: readonly PendingLabel[]): Promise<Set<string>> {
    const wanted = labels.map((label) => label.predictionId);
    const found = new Set<string>();
    const others = (await this.archive.pipelines()).filter((other) => other !== pipelineId);
    for (let i = 0; i < others.length && found.size < wanted.length; i += ELSEWHERE_CONCURRENCY) {
      const ids = wanted.filter((id) => !found.has(id));
      const batches = await Promise.all(
        others.slice(i, i + ELSEWHERE_CONCURRENCY).map((other) =>
          this.archive.find(other, ids).catch((error: unknown) => {
            this.logger.warn({ pipelineId: other, err: error }, 'archive unreadable; its predictions not asked');
            return [];
          }),
        ),
      );
      for (const prediction of batches.flat()) found.add(prediction.predictionId);
    }
    return found;
  }

  /** Scores of the version's newest served predictions without a settled label (at most windowLabels). */
  private async waitingScores(performance: VersionPerformance, settledNow: ReadonlySet<string>): Promise<number[]> {
    const { pipelineId, modelVersion } = performance.ref;
    const limit = performance.settings.windowLabels;
    const newest = await this.archive.newest(pipelineId, modelVersion, limit * 2);
    const settledKeys = await this.joins.find(newest.map((p) => predictionKey(pipelineId, p.predictionId)));
    const counted = new Set<string>();
    return newest
      .filter((p) => {
        const key = predictionKey(pipelineId, p.predictionId);
        // Two files may hold the same row (a replayed checkpoint interval): each prediction counts once.
        if (counted.has(key) || settledKeys.has(key) || settledNow.has(key)) return false;
        counted.add(key);
        return true;
      })
      .map((p) => p.outputs.probability)
      .filter((score): score is number => typeof score === 'number' && Number.isFinite(score))
      .slice(0, limit);
  }

  private observeWindow(event: LabelWindowEvent): void {
    const labels = { pipeline: event.pipelineId, model_version: String(event.modelVersion) };
    this.performanceMetrics.windowsClosed.inc({ pipeline: event.pipelineId });
    for (const [metric, value] of Object.entries(event.metrics)) {
      if (value !== undefined) this.performanceMetrics.windowMetric.set({ ...labels, metric }, value);
    }
    for (const [metric, value] of Object.entries(event.estimated?.metrics ?? {})) {
      if (value !== undefined) this.performanceMetrics.estimatedMetric.set({ ...labels, metric }, value);
    }
    if (event.conceptDrift.detections > 0) {
      this.performanceMetrics.conceptDrift.inc(
        { ...labels, detector: event.conceptDrift.detector },
        event.conceptDrift.detections,
      );
    }
  }
}

/** A closed window's event with its rows, until its estimate is added. */
interface ClosedRows {
  event: LabelWindowEvent;
  scores: number[];
  labels: number[];
}

/**
 * CBPE for predictions still waiting for labels, calibrated on a closed window's labels; undefined when none wait or
 * the window cannot calibrate (one class only).
 */
function estimate(
  waitingScores: readonly number[],
  calibration: { scores: number[]; labels: number[] },
): LabelWindowEvent['estimated'] {
  const positives = calibration.labels.reduce((sum, label) => sum + label, 0);
  if (waitingScores.length === 0 || positives === 0 || positives === calibration.labels.length) return undefined;
  const estimated = cbpe(calibration, waitingScores, { threshold: DECISION_THRESHOLD, calibrate: true });
  return {
    method: 'cbpe',
    rows: waitingScores.length,
    metrics: {
      accuracy: estimated.accuracy,
      precision: estimated.precision,
      recall: estimated.recall,
      f1: estimated.f1,
      ...(estimated.rocAuc !== undefined ? { auc: estimated.rocAuc } : {}),
    },
  };
}

/** A version's performance settings from its pipeline's spec when its first label joins. */
function settingsOf(spec: PipelineSpecV1): PerformanceSettings {
  const { windowLabels, conceptDrift } = spec.performance;
  return {
    task: spec.task,
    windowLabels,
    detector:
      conceptDrift.detector === 'adwin'
        ? { kind: 'adwin', delta: conceptDrift.adwinDelta }
        : {
            kind: 'page-hinkley',
            delta: conceptDrift.pageHinkleyDelta,
            threshold: conceptDrift.pageHinkleyThreshold,
            minInstances: conceptDrift.pageHinkleyMinInstances,
          },
  };
}
