import { type PipelineSpecV1 } from '@keel/contracts';
import { NonRetryableError } from '@keel/messaging';
import { CategoricalSummary, NumericSummary } from '@keel/ml-stats';
import { type FeatureReference, type ModelPackage } from '@keel/model-package';
import { type MetricsService } from '@keel/service-runtime';
import pino from 'pino';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { evaluateSummaries, summariesFromJson } from './drift-evaluator';
import { type DriftEvaluator } from './drift-evaluator.service';
import { type DriftEventsPublisher } from './drift-events.publisher';
import { type DriftWindowDocument, type DriftWindowRepository, type WindowReport } from './drift-window.repository';
import { DriftMetrics } from './drift.metrics';
import { DriftService, type LoggedRows } from './drift.service';
import { type PackageCache } from './package-cache';
import { type CounterDocument, counterId, type WindowCounterRepository } from './window-counter.repository';
import { type Allocation, allocateRows } from './window-numbering';

/** Counters in memory, numbering rows as the repository does (allocateRows), one allocation per event id. */
class InMemoryCounters {
  readonly counters = new Map<string, CounterDocument>();

  async allocate(pipelineId: string, modelVersion: number, eventId: string, added: number, windowRows: number) {
    const _id = counterId(pipelineId, modelVersion);
    const counter = this.counters.get(_id) ?? { _id, count: 0, windowRows, nextWindowToEvaluate: 0, rev: 0 };
    const recent = JSON.parse(counter.recentJson ?? '[]') as Allocation[];
    const { allocation, remember } = allocateRows(counter.count, recent, eventId, added);
    if (remember)
      Object.assign(
        counter,
        { count: counter.count + added, rev: counter.rev + 1 },
        { recentJson: JSON.stringify(remember) },
      );
    this.counters.set(_id, counter);
    return { allocation, counter: { ...counter } };
  }

  async evaluatedThrough(pipelineId: string, modelVersion: number, windowIndex: number): Promise<void> {
    const counter = this.counters.get(counterId(pipelineId, modelVersion))!;
    counter.nextWindowToEvaluate = Math.max(counter.nextWindowToEvaluate, windowIndex);
  }
}

class InMemoryWindows {
  readonly windows = new Map<string, DriftWindowDocument>();

  async get(id: string) {
    const window = this.windows.get(id);
    return window ? structuredClone(window) : null;
  }
  async create(window: DriftWindowDocument) {
    if (this.windows.has(window._id)) return false;
    this.windows.set(window._id, structuredClone(window));
    return true;
  }
  /** Compare-and-set, as the repository's: the write wins only on top of the version it read. */
  async update(read: DriftWindowDocument, changes: Partial<DriftWindowDocument>) {
    const window = this.windows.get(read._id);
    if (!window || window.rev !== read.rev) return false;
    Object.assign(window, structuredClone(changes), { rev: read.rev + 1 });
    return true;
  }
  async saveReport(id: string, report: WindowReport) {
    Object.assign(this.windows.get(id)!, report, { status: 'evaluated' });
  }
  async recordFailure(id: string, reason: string) {
    Object.assign(this.windows.get(id)!, { status: 'failed', lastError: reason });
  }
}

const ages = Array.from({ length: 200 }, (_, i) => 20 + (i % 40));
const reference: Record<string, FeatureReference> = {
  age: { kind: 'numeric', summary: NumericSummary.fromReference(ages, 4).toJSON() },
  sex: {
    kind: 'categorical',
    summary: new CategoricalSummary().addAll(ages.map((_, i) => (i % 2 ? 'Male' : 'Female'))).toJSON(),
  },
};
const spec = { id: 'p1', monitoring: { windowRows: 4, psiThreshold: 0.2 } } as PipelineSpecV1;

function setUp(packages: Pick<PackageCache, 'get'> = { get: async () => ({ reference }) as ModelPackage }) {
  const counters = new InMemoryCounters();
  const windows = new InMemoryWindows();
  const published: WindowReport[] = [];
  const events = { publish: async (report: WindowReport) => void published.push(report) };
  const metrics = new DriftMetrics({ registry: new Registry() } as MetricsService);
  const drift = new DriftService(
    windows as unknown as DriftWindowRepository,
    counters as unknown as WindowCounterRepository,
    packages as PackageCache,
    events as unknown as DriftEventsPublisher,
    metrics,
    pino({ level: 'silent' }),
    // Evaluation runs on the worker pool in the service; in place here.
    {
      evaluate: async (ref, summariesJson, psiThreshold) =>
        evaluateSummaries(ref, summariesFromJson(summariesJson), psiThreshold),
    } as DriftEvaluator,
  );
  return { drift, counters, windows, published };
}

/** An event's rows: ages from `age` on, alternating sex. */
function rows(eventId: string, n: number, age: number): LoggedRows {
  return {
    eventId,
    pipelineId: 'p1',
    modelName: 'm',
    modelVersion: 1,
    servedAt: new Date('2026-12-01T00:00:00Z'),
    inputs: Array.from({ length: n }, (_, i) => ({ age: age + i, sex: i % 2 ? 'Male' : 'Female' })),
  };
}

describe('DriftService.record', () => {
  it('given windows of 4 rows, when three events of 2 rows arrive, then window 0 is evaluated and window 1 stays open with 2 rows', async () => {
    const { drift, counters, windows } = setUp();

    const counts = [];
    for (const event of ['e1', 'e2', 'e3']) counts.push(await drift.record(spec, rows(event, 2, 30)));

    expect(counts).toEqual([2, 4, 6]);
    expect(windows.windows.get('p1|1|0')).toMatchObject({ status: 'evaluated', rowCount: 4, windowIndex: 0 });
    expect(windows.windows.get('p1|1|1')).toMatchObject({ status: 'open', rowCount: 2, appliedEventIds: ['e3'] });
    expect(counters.counters.get('p1|1')?.nextWindowToEvaluate).toBe(1);
  });

  it('given an event whose rows spill over a window edge, when it arrives, then each window gets its own rows', async () => {
    const { drift, windows } = setUp();

    await drift.record(spec, rows('e1', 3, 30));
    await drift.record(spec, rows('e2', 3, 30));

    expect(windows.windows.get('p1|1|0')).toMatchObject({
      status: 'evaluated',
      rowCount: 4,
      appliedEventIds: ['e1', 'e2'],
    });
    expect(windows.windows.get('p1|1|1')).toMatchObject({ status: 'open', rowCount: 2, appliedEventIds: ['e2'] });
  });

  it('given an event already recorded, when it is redelivered, then it is numbered and merged once', async () => {
    const { drift, windows } = setUp();
    await drift.record(spec, rows('e1', 3, 30));

    const count = await drift.record(spec, rows('e1', 3, 30));

    expect(count).toBe(3);
    expect(windows.windows.get('p1|1|0')).toMatchObject({ rowCount: 3, appliedEventIds: ['e1'] });
  });

  it('given served ages far above the reference, when a window fills, then its report drifts on age and is published once', async () => {
    const { drift, published } = setUp();

    await drift.record(spec, rows('e1', 4, 90));
    await drift.record(spec, rows('e2', 1, 30));

    expect(published).toHaveLength(1);
    expect(published[0]).toMatchObject({ windowIndex: 0, drifted: true, rowCount: 4 });
    expect(published[0].features.find((feature) => feature.feature === 'age')?.drifted).toBe(true);
  });

  it('given a model version without a package, when its window fills, then the window is closed as failed and evaluation moves past it', async () => {
    const missing = { get: async () => Promise.reject(new NonRetryableError('no package', 'model-version-unknown')) };
    const { drift, counters, windows, published } = setUp(missing);

    await drift.record(spec, rows('e1', 4, 30));

    expect(windows.windows.get('p1|1|0')).toMatchObject({ status: 'failed', lastError: 'no package', rowCount: 0 });
    expect(counters.counters.get('p1|1')?.nextWindowToEvaluate).toBe(1);
    expect(published).toHaveLength(0);
  });

  it('given the package store is unavailable, when rows arrive, then the error is rethrown so the event is retried', async () => {
    const unavailable = { get: async () => Promise.reject(new Error('connection refused')) };
    const { drift, windows } = setUp(unavailable);

    await expect(drift.record(spec, rows('e1', 2, 30))).rejects.toThrow('connection refused');
    expect(windows.windows.size).toBe(0);
  });
});
