import { accuracy, f1, mae, Prng, rmse, rocAuc } from '@keel/ml-stats';
import { describe, expect, it } from 'vitest';
import {
  type ClosedLabelWindow,
  type JoinedRow,
  type PerformanceSettings,
  VersionPerformance,
} from './version-performance';

const ref = { pipelineId: 'p-perf', modelName: 'm', modelVersion: 3 };
const classification: PerformanceSettings = {
  task: 'binary-classification',
  windowLabels: 100,
  detector: { kind: 'adwin' },
};

/** A model whose scores agree with the truth with probability `agree`. */
function rows(n: number, agree: number, seed: number, from = 0): JoinedRow[] {
  const rng = new Prng(seed);
  return Array.from({ length: n }, (_, i) => {
    const label = rng.next() < 0.4 ? 1 : 0;
    const right = rng.next() < agree;
    const confidence = 0.5 + 0.5 * rng.next();
    const score = (label === 1) === right ? confidence : 1 - confidence;
    return { score: Math.min(score, 0.999), label, servedAt: 1_000_000 + from + i };
  });
}

function feed(performance: VersionPerformance, given: readonly JoinedRow[]): ClosedLabelWindow[] {
  return given.flatMap((row) => performance.add(row).closed ?? []);
}

describe('VersionPerformance', () => {
  it('closes a window every windowLabels joined labels with the metrics of exactly those labels', () => {
    // given 250 joined labels of a classifier
    const performance = VersionPerformance.start(ref, classification);
    const given = rows(250, 0.8, 1);
    // when they are added in order
    const closed = feed(performance, given);
    // then windows 0 and 1 close, each over its 100 labels
    expect(closed.map((w) => [w.windowIndex, w.labelledCount])).toEqual([
      [0, 100],
      [1, 100],
    ]);
    const second = given.slice(100, 200);
    const truth = second.map((r) => r.label);
    const predicted = second.map((r) => (r.score >= 0.5 ? 1 : 0));
    expect(closed[1].metrics.accuracy).toBe(accuracy(truth, predicted));
    expect(closed[1].metrics.f1).toBe(f1(truth, predicted));
    expect(closed[1].metrics.auc).toBe(
      rocAuc(
        truth,
        second.map((r) => r.score),
      ),
    );
    expect(closed[1].conceptDrift.errorMean).toBeCloseTo(1 - closed[1].metrics.accuracy!, 12);
    expect(closed[1].firstServedAt).toBe(second[0].servedAt);
    expect(closed[1].lastServedAt).toBe(second[99].servedAt);
    // and the rolling view covers the last 100 labels (50 of window 1, the 50 open)
    const last = given.slice(150);
    expect(performance.rolling().labelledCount).toBe(100);
    expect(performance.rolling().metrics.accuracy).toBe(
      accuracy(
        last.map((r) => r.label),
        last.map((r) => (r.score >= 0.5 ? 1 : 0)),
      ),
    );
  });

  it('fires concept drift when the labels flip, and not before', () => {
    // given a classifier right 90% of the time for 600 labels, then right 30% of the time
    const performance = VersionPerformance.start(ref, { ...classification, windowLabels: 200 });
    const closed = feed(performance, [...rows(600, 0.9, 2), ...rows(600, 0.3, 3, 600)]);
    // then no window before the flip detects drift, and one of the windows after it does
    expect(closed.slice(0, 3).map((w) => w.conceptDrift.detected)).toEqual([false, false, false]);
    expect(closed.slice(3).some((w) => w.conceptDrift.detected)).toBe(true);
    const firing = closed.find((w) => w.conceptDrift.detected)!;
    expect(firing.conceptDrift).toMatchObject({ detector: 'adwin', threshold: 1 });
    expect(firing.conceptDrift.statistic).toBeGreaterThan(1);
    expect(performance.lastDetectionAt).toBeGreaterThanOrEqual(600);
  });

  it('gives the same windows when its state goes through JSON between any two labels', () => {
    const given = [...rows(300, 0.85, 4), ...rows(300, 0.4, 5, 300)];
    const settings: PerformanceSettings = {
      ...classification,
      detector: { kind: 'page-hinkley', threshold: 5, delta: 0.01, minInstances: 30 },
    };
    const straight = feed(VersionPerformance.start(ref, settings), given);
    let resumed = VersionPerformance.start(ref, settings);
    const viaJson: ClosedLabelWindow[] = [];
    given.forEach((row, i) => {
      if (i % 37 === 0) resumed = VersionPerformance.fromJSON(JSON.parse(JSON.stringify(resumed.toJSON())));
      const { closed } = resumed.add(row);
      if (closed) viaJson.push(closed);
    });
    expect(viaJson).toEqual(straight);
    expect(straight.some((w) => w.conceptDrift.detected)).toBe(true);
  });

  it('counts a label whose prediction was served before an already joined one as out of order', () => {
    const performance = VersionPerformance.start(ref, classification);
    expect(performance.add({ score: 0.9, label: 1, servedAt: 2_000 }).outOfOrder).toBe(false);
    expect(performance.add({ score: 0.9, label: 1, servedAt: 1_000 }).outOfOrder).toBe(true);
    expect(performance.add({ score: 0.9, label: 1, servedAt: 3_000 }).outOfOrder).toBe(false);
  });

  it('reports RMSE and MAE for regression, on the absolute error stream', () => {
    const performance = VersionPerformance.start(ref, {
      task: 'regression',
      windowLabels: 10,
      detector: { kind: 'adwin' },
    });
    const given = Array.from({ length: 10 }, (_, i) => ({ score: i, label: i + (i % 3) - 1, servedAt: i }));
    const [closed] = feed(performance, given);
    expect(closed.metrics).toEqual({
      rmse: rmse(
        given.map((r) => r.label),
        given.map((r) => r.score),
      ),
      mae: mae(
        given.map((r) => r.label),
        given.map((r) => r.score),
      ),
    });
    expect(closed.conceptDrift.errorMean).toBeCloseTo(closed.metrics.mae!, 12);
  });
});
