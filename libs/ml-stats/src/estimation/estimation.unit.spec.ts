import { describe, expect, it } from 'vitest';
import fixture from '../fixtures/cbpe.json';
import { StatsInputError } from '../errors';
import { cbpe } from './cbpe';
import { IsotonicRegression } from './isotonic';

describe('CBPE against NannyML', () => {
  it.each(fixture.cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const estimate = cbpe(c.reference, c.analysis, { calibrate: c.calibrated });
    expect(estimate.rows).toBe(c.analysis.length);
    expect(estimate.accuracy).toBeCloseTo(c.expected.accuracy, 9);
    expect(estimate.precision).toBeCloseTo(c.expected.precision, 9);
    expect(estimate.recall).toBeCloseTo(c.expected.recall, 9);
    expect(estimate.f1).toBeCloseTo(c.expected.f1, 9);
    expect(estimate.rocAuc).toBeCloseTo(c.expected.roc_auc, 9);
  });

  it('covers both NannyML decisions: calibrated on the reference, and left as they are', () => {
    expect(new Set(fixture.cases.map((c) => c.calibrated))).toEqual(new Set([true, false]));
  });
});

describe('isotonic regression (scikit-learn semantics)', () => {
  it('pools violators and equal x values, interpolates between fitted points, clips outside', () => {
    const fit = IsotonicRegression.fit([1, 2, 2, 3, 4], [0, 1, 0, 0, 1]);
    // x=2 pools to 0.5; then 0.5 > 0 at x=3 pools to 0.25 over x∈{2,3} (weights 2 and 1 → (1 + 0) / 3).
    expect(Array.from(fit.predict([0, 1, 2, 2.5, 3, 4, 9]))).toEqual([0, 0, 1 / 3, 1 / 3, 1 / 3, 1, 1]);
  });

  it('rejects bad input', () => {
    expect(() => IsotonicRegression.fit([], [])).toThrow(StatsInputError);
    expect(() => cbpe({ scores: [0.2], labels: [2] }, [0.3])).toThrow(/0 or 1/);
    expect(() => cbpe({ scores: [0.2], labels: [1] }, [])).toThrow(StatsInputError);
  });
});
