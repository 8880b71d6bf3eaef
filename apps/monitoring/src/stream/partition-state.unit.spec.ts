import { CategoricalSummary, NumericSummary, Prng } from '@keel/ml-stats';
import { type FeatureReference } from '@keel/model-package';
import { describe, expect, it } from 'vitest';
import { type ClosedWindow, PartitionState, type PredictionBatch, type VersionSetup } from './partition-state';

const random = new Prng(7);
const ages = Array.from({ length: 2_000 }, () => Math.round(18 + random.next() * 60));
const reference: Record<string, FeatureReference> = {
  age: { kind: 'numeric', summary: NumericSummary.fromReference(ages, 10, { sketchK: 64 }).toJSON() },
  sex: { kind: 'categorical', summary: new CategoricalSummary().addAll(['Male', 'Female', 'Male']).toJSON() },
};
const setup: VersionSetup = { windowRows: 100, reference };

/** Batch `n` of `rows` rows: ages from the reference's range, servedAt = 1000·n + row. */
function batch(n: number, rows: number, overrides: Partial<PredictionBatch> = {}): PredictionBatch {
  const at = (i: number) => 1_000 * n + i;
  return {
    pipelineId: 'adult' as PredictionBatch['pipelineId'],
    modelName: 'adult',
    modelVersion: 1,
    batchId: `b-${n}`,
    rows,
    predictionIds: Array.from({ length: rows }, (_, i) => `p-${n}-${i}`),
    requestIds: Array.from({ length: rows }, () => `r-${n}`),
    servedAt: Array.from({ length: rows }, (_, i) => at(i)),
    inputs: {
      age: Array.from({ length: rows }, (_, i) => (i % 17 === 0 ? null : ages[(n * 31 + i) % ages.length])),
      sex: Array.from({ length: rows }, (_, i) => (i % 3 === 0 ? 'Female' : 'Male')),
    },
    outputs: {
      probability: Array.from({ length: rows }, (_, i) => ((n + i) % 10) / 10),
      label: Array.from({ length: rows }, (_, i) => (i % 4 === 0 ? '>50K' : '<=50K')),
    },
    ...overrides,
  };
}

const batches = [batch(0, 70), batch(1, 70), batch(2, 70), batch(3, 5), batch(4, 130), batch(5, 55)];

function applyAll(state: PartitionState, list: readonly PredictionBatch[]): ClosedWindow[] {
  return list.flatMap((b) => state.apply(b, setup));
}

describe('PartitionState', () => {
  it('given windows of 100 rows, when 400 rows arrive in uneven batches, then four windows close in order with 100 rows each', () => {
    const state = new PartitionState();

    const closed = applyAll(state, batches);

    expect(closed.map((w) => [w.windowIndex, w.rowCount])).toEqual([
      [0, 100],
      [1, 100],
      [2, 100],
      [3, 100],
    ]);
    // Window 1 holds rows 101-200: the last 40 of batch 1 and the first 60 of batch 2.
    expect(closed[1]).toMatchObject({ windowStart: 1_030, windowEnd: 2_059 });
    expect(state.rowsOf('adult')).toBe(400);
    const age = new Map(JSON.parse(closed[0].summariesJson!) as [string, { count: number; missing: number }][]).get(
      'age',
    )!;
    expect(age.count + age.missing).toBe(100);
  });

  it('describes each output over the window: numeric quantiles, category counts', () => {
    const [first] = applyAll(new PartitionState(), batches);

    expect(first.outputs.map((o) => [o.name, o.kind, o.count])).toEqual([
      ['label', 'categorical', 100],
      ['probability', 'numeric', 100],
    ]);
    const label = first.outputs[0];
    expect(label.kind === 'categorical' && label.categories).toEqual([
      { category: '<=50K', count: 74 },
      { category: '>50K', count: 26 },
    ]);
  });

  it('given a batch applied before, when it arrives again, then nothing changes', () => {
    const state = new PartitionState();
    applyAll(state, batches.slice(0, 2));

    expect(state.apply(batch(1, 70), setup)).toEqual([]);
    expect(state.rowsOf('adult')).toBe(140);
  });

  it('given a checkpoint mid-window, when the rest is applied to the restored state, then the windows equal an uninterrupted run', () => {
    const uninterrupted = applyAll(new PartitionState(), batches);

    const before = new PartitionState();
    const first = applyAll(before, batches.slice(0, 3));
    const restored = PartitionState.fromJSON(JSON.parse(JSON.stringify(before.toJSON())));
    const rest = applyAll(restored, [batch(2, 70), ...batches.slice(3)]);

    expect([...first, ...rest]).toEqual(uninterrupted);
    expect(restored.toJSON()).toEqual(
      (() => {
        const whole = new PartitionState();
        applyAll(whole, batches);
        return whole.toJSON();
      })(),
    );
  });

  it('keeps model versions apart and continues a version after the rows an earlier counter numbered', () => {
    const state = new PartitionState();
    state.apply(batch(0, 70), setup);

    const closed = state.apply(batch(1, 100, { modelVersion: 2 }), { ...setup, countBefore: 250 });

    // 250 rows reached window 2; version 2 continues at window 3.
    expect(closed.map((w) => [w.modelVersion, w.windowIndex, w.rowCount])).toEqual([[2, 3, 100]]);
    expect(state.knows('adult', 1) && state.knows('adult', 2)).toBe(true);
  });

  it('given a version without a drift reference, when its window fills, then it closes as failed with the reason', () => {
    const closed = new PartitionState().apply(batch(0, 100), {
      windowRows: 100,
      failure: 'unknown model version',
    });

    expect(closed).toHaveLength(1);
    expect(closed[0]).toMatchObject({ windowIndex: 0, rowCount: 100, failure: 'unknown model version' });
    expect(closed[0].summariesJson).toBeUndefined();
  });

  it('counts a feature missing from a batch as missing values', () => {
    const { age, ...withoutAge } = batch(0, 100).inputs;
    expect(age).toHaveLength(100);

    const [window] = new PartitionState().apply(batch(0, 100, { inputs: withoutAge }), setup);

    const summaries = new Map(JSON.parse(window.summariesJson!) as [string, { count: number; missing: number }][]);
    expect(summaries.get('age')).toMatchObject({ count: 0, missing: 100 });
  });

  it('given windows of 2 s of served time, when batches arrive, then a window closes when a later one’s first row arrives', () => {
    const state = new PartitionState();
    const byTime: VersionSetup = { windowRows: 100, windowMs: 2_000, reference };

    // servedAt 0-69, 1000-1069 (window 0), 2000-2069, 3000-3004 (window 1), 4000-4129 (window 2)
    const closed = batches.slice(0, 5).flatMap((b) => state.apply(b, byTime));

    expect(closed.map((w) => [w.windowIndex, w.rowCount, w.windowBy])).toEqual([
      [0, 140, 'time'],
      [1, 75, 'time'],
    ]);
    expect(closed[1]).toMatchObject({ windowStart: 2_000, windowEnd: 3_004 });
    // A row older than the open window counts into it: data time only moves forward.
    const late = state.apply(batch(9, 1, { batchId: 'late', servedAt: [10] }), byTime);
    const next = state.apply(batch(7, 1), byTime);
    expect(late).toEqual([]);
    expect(next.map((w) => [w.windowIndex, w.rowCount])).toEqual([[2, 131]]);
  });

  it('keeps the first window’s outputs as the baseline of prediction drift, through a checkpoint', () => {
    const state = new PartitionState();
    const first = applyAll(state, batches.slice(0, 2));
    const restored = PartitionState.fromJSON(JSON.parse(JSON.stringify(state.toJSON())));
    const later = batches.slice(2).flatMap((b) => restored.apply(b, setup));

    expect(first[0].predictionDrift).toBeUndefined();
    expect(later.length).toBeGreaterThan(0);
    for (const window of later) {
      const baseline = new Map(JSON.parse(window.predictionDrift!.baselineJson) as [string, { count: number }][]);
      expect(baseline.get('probability')?.count).toBe(100);
    }
  });
});
