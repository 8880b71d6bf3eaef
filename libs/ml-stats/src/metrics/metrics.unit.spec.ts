import { describe, expect, it } from 'vitest';
import fixture from '../fixtures/metrics.json';
import { StatsInputError } from '../errors';
import { accuracy, confusionMatrix, f1, perClassMetrics, precision, recall } from './classification';
import { brierScore, calibrationBins, logLoss, multiclassLogLoss } from './probabilistic';
import { averagePrecision, rocAuc } from './ranking';
import { mae, mape, r2, rmse } from './regression';
import { sliceBy } from './slice';

const TOL = 1e-12;

describe('classification metrics: exact small cases', () => {
  const yTrue = [1, 0, 1, 1, 0, 0, 1, 0];
  const yPred = [1, 0, 0, 1, 1, 0, 1, 0];
  it('counts', () => {
    expect(accuracy(yTrue, yPred)).toBe(6 / 8);
    expect(precision(yTrue, yPred)).toBe(3 / 4);
    expect(recall(yTrue, yPred)).toBe(3 / 4);
    expect(f1(yTrue, yPred)).toBe(3 / 4);
    expect(confusionMatrix(yTrue, yPred)).toEqual({
      labels: [0, 1],
      matrix: [
        [3, 1],
        [1, 3],
      ],
    });
  });
  it('zero division follows scikit-learn (0 by default, 1 on request)', () => {
    expect(precision([1, 0], [0, 0])).toBe(0);
    expect(precision([1, 0], [0, 0], { zeroDivision: 1 })).toBe(1);
  });
  it('rejects bad input with typed errors', () => {
    expect(() => accuracy([], [])).toThrow(StatsInputError);
    expect(() => accuracy([1, 0], [1])).toThrow(/length/);
    expect(() => f1([0, 1, 2], [0, 1, 2])).toThrow(/binary/);
    expect(() => precision([NaN, 1], [1, 1])).toThrow(/finite/);
  });
});

describe('ranking metrics', () => {
  it('handles ties with half credit', () => {
    // One positive and one negative tied: AUC 0.5; plus a clean pair.
    expect(rocAuc([1, 0], [0.5, 0.5])).toBe(0.5);
    expect(rocAuc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])).toBe(0.75);
    expect(averagePrecision([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])).toBeCloseTo(0.8333333333333333, 15);
  });
  it('single class is an error, not a number', () => {
    expect(() => rocAuc([1, 1, 1], [0.2, 0.3, 0.4])).toThrow(expect.objectContaining({ code: 'single-class' }));
    expect(() => averagePrecision([0, 0], [0.2, 0.3])).toThrow(StatsInputError);
    expect(() => rocAuc([0, 1], [0.2, Infinity])).toThrow(/finite/);
  });
});

describe('matches scikit-learn (binary fixture, many tied scores)', () => {
  const { yTrue, scores, yPred, expected } = fixture.binary;
  it('label metrics', () => {
    expect(accuracy(yTrue, yPred)).toBeCloseTo(expected.accuracy, 14);
    expect(precision(yTrue, yPred)).toBeCloseTo(expected.precision, 14);
    expect(recall(yTrue, yPred)).toBeCloseTo(expected.recall, 14);
    expect(f1(yTrue, yPred)).toBeCloseTo(expected.f1, 14);
    expect(confusionMatrix(yTrue, yPred).matrix).toEqual(expected.confusionMatrix);
  });
  it('score metrics', () => {
    expect(Math.abs(rocAuc(yTrue, scores) - expected.rocAuc)).toBeLessThan(TOL);
    expect(Math.abs(averagePrecision(yTrue, scores) - expected.averagePrecision)).toBeLessThan(TOL);
    expect(Math.abs(logLoss(yTrue, scores) - expected.logLoss)).toBeLessThan(TOL);
    expect(Math.abs(brierScore(yTrue, scores) - expected.brier)).toBeLessThan(TOL);
  });
  it('calibration curve', () => {
    const cal = calibrationBins(yTrue, scores, expected.calibration.nBins);
    const nonEmpty = cal.bins.filter((b) => b.count > 0);
    expect(nonEmpty.map((b) => b.fractionPositive)).toEqual(
      expected.calibration.probTrue.map((v) => expect.closeTo(v, 12)),
    );
    expect(nonEmpty.map((b) => b.meanPredicted)).toEqual(
      expected.calibration.probPred.map((v) => expect.closeTo(v, 12)),
    );
    expect(cal.bins.reduce((s, b) => s + b.count, 0)).toBe(yTrue.length);
  });
});

describe('matches scikit-learn (multiclass fixture)', () => {
  const { yTrue, yPred, expected } = fixture.multiclass;
  for (const average of ['macro', 'weighted', 'micro'] as const) {
    it(average, () => {
      expect(precision(yTrue, yPred, { average })).toBeCloseTo(expected[average].precision, 13);
      expect(recall(yTrue, yPred, { average })).toBeCloseTo(expected[average].recall, 13);
      expect(f1(yTrue, yPred, { average })).toBeCloseTo(expected[average].f1, 13);
    });
  }
  it('confusion matrix', () => {
    expect(confusionMatrix(yTrue, yPred).matrix).toEqual(expected.confusionMatrix);
  });
  it('per-class metrics: read off the confusion matrix, and averaging them gives the macro and weighted scores', () => {
    const matrix = expected.confusionMatrix;
    const perClass = perClassMetrics(yTrue, yPred);
    expect(perClass.map((c) => c.label)).toEqual([0, 1, 2, 3]);
    perClass.forEach((c, k) => {
      const column = matrix.reduce((sum, row) => sum + row[k], 0);
      const row = matrix[k].reduce((sum, v) => sum + v, 0);
      expect(c.precision).toBeCloseTo(matrix[k][k] / column, 14);
      expect(c.recall).toBeCloseTo(matrix[k][k] / row, 14);
      expect(c.support).toBe(row);
    });
    const mean = (pick: (c: (typeof perClass)[number]) => number, weigh = false) =>
      perClass.reduce((sum, c) => sum + pick(c) * (weigh ? c.support : 1), 0) /
      (weigh ? yTrue.length : perClass.length);
    expect(mean((c) => c.f1)).toBeCloseTo(expected.macro.f1, 13);
    expect(mean((c) => c.precision)).toBeCloseTo(expected.macro.precision, 13);
    expect(mean((c) => c.f1, true)).toBeCloseTo(expected.weighted.f1, 13);
  });
  it('per-class metrics over declared labels: a class absent from both arrays has zeros', () => {
    expect(perClassMetrics([0, 1, 1], [0, 1, 0], [0, 1, 2])).toEqual([
      { label: 0, precision: 0.5, recall: 1, f1: 2 / 3, support: 1 },
      { label: 1, precision: 1, recall: 0.5, f1: 2 / 3, support: 2 },
      { label: 2, precision: 0, recall: 0, f1: 0, support: 0 },
    ]);
  });
});

describe('multiclass log loss', () => {
  it("is the mean negative log probability of each row's true class", () => {
    const probabilities = [0.7, 0.2, 0.1, 0.1, 0.3, 0.6];
    expect(multiclassLogLoss([0, 2], probabilities, 3)).toBeCloseTo(-(Math.log(0.7) + Math.log(0.6)) / 2, 15);
  });
  it('with two classes equals the binary log loss of P(class 1)', () => {
    const p1 = [0.9, 0.2, 0.6, 0.35];
    const y = [1, 0, 0, 1];
    const rows = p1.flatMap((p) => [1 - p, p]);
    expect(multiclassLogLoss(y, rows, 2)).toBeCloseTo(logLoss(y, p1), 14);
  });
  it('clips a zero probability and refuses mismatched shapes and class indices', () => {
    expect(Number.isFinite(multiclassLogLoss([1], [1, 0, 0], 3))).toBe(true);
    expect(() => multiclassLogLoss([0, 1], [0.5, 0.5], 2)).toThrow(/expected 2 rows × 2 classes/);
    expect(() => multiclassLogLoss([3], [0.5, 0.5, 0], 3)).toThrow(/class index in \[0, 3\)/);
    expect(() => multiclassLogLoss([], [], 3)).toThrow(StatsInputError);
  });
});

describe('regression metrics', () => {
  const { yTrue, yPred, expected } = fixture.regression;
  it('match scikit-learn', () => {
    expect(Math.abs(rmse(yTrue, yPred) - expected.rmse)).toBeLessThan(TOL);
    expect(Math.abs(mae(yTrue, yPred) - expected.mae)).toBeLessThan(TOL);
    expect(Math.abs(r2(yTrue, yPred) - expected.r2)).toBeLessThan(TOL);
    expect(Math.abs(mape(yTrue, yPred) - expected.mape)).toBeLessThan(TOL);
  });
  it('exact small case and undefined R²', () => {
    expect(rmse([1, 2, 3], [1, 2, 5])).toBeCloseTo(Math.sqrt(4 / 3), 15);
    expect(mae([1, 2, 3], [1, 2, 5])).toBeCloseTo(2 / 3, 15);
    expect(() => r2([2, 2, 2], [1, 2, 3])).toThrow(expect.objectContaining({ code: 'undefined' }));
  });
});

describe('sliceBy', () => {
  it('computes a metric per group and names the failing group', () => {
    const groups = ['x', 'y', 'x', 'y'];
    const yTrue = [1, 0, 0, 1];
    const yPred = [1, 0, 1, 1];
    const acc = sliceBy(groups, (pick) => accuracy(pick(yTrue), pick(yPred)));
    expect([...acc]).toEqual([
      ['x', 0.5],
      ['y', 1],
    ]);
    expect(() =>
      sliceBy(['a', 'a', 'b', 'b'], (pick) => rocAuc(pick([1, 0, 1, 1]), pick([0.1, 0.2, 0.3, 0.4]))),
    ).toThrow(/group "b".*only one class/);
  });
});
