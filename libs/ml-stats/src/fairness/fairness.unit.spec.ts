import { describe, expect, it } from 'vitest';
import fixture from '../fixtures/fairness.json';
import {
  demographicParityDifference,
  demographicParityRatio,
  equalizedOddsDifference,
  equalOpportunityDifference,
  groupRates,
} from './group-metrics';

describe('fairness metrics match Fairlearn', () => {
  const input = { yTrue: fixture.yTrue, yPred: fixture.yPred, sensitive: fixture.sensitive };
  const e = fixture.expected;
  it('per-group rates', () => {
    const rates = groupRates(input);
    expect(rates.map((r) => r.group)).toEqual(Object.keys(e.byGroup).sort());
    for (const r of rates) {
      const ref = e.byGroup[r.group as keyof typeof e.byGroup];
      expect(r.selectionRate).toBeCloseTo(ref.selectionRate, 14);
      expect(r.truePositiveRate).toBeCloseTo(ref.truePositiveRate, 14);
      expect(r.falsePositiveRate).toBeCloseTo(ref.falsePositiveRate, 14);
    }
  });
  it('between-group differences and ratio', () => {
    expect(demographicParityDifference(input)).toBeCloseTo(e.demographicParityDifference, 14);
    expect(demographicParityRatio(input)).toBeCloseTo(e.demographicParityRatio, 14);
    expect(equalizedOddsDifference(input)).toBeCloseTo(e.equalizedOddsDifference, 14);
    expect(equalOpportunityDifference(input)).toBeCloseTo(e.equalOpportunityDifference, 14);
  });
});

describe('fairness metrics: exact cases and bad input', () => {
  const input = { yTrue: [1, 0, 1, 0, 1, 0], yPred: [1, 1, 0, 0, 1, 0], sensitive: ['a', 'a', 'b', 'b', 'b', 'b'] };
  it('exact', () => {
    // a: selection 2/2, TPR 1, FPR 1; b: selection 1/4, TPR 1/2, FPR 0.
    expect(demographicParityDifference(input)).toBe(0.75);
    expect(demographicParityRatio(input)).toBe(0.25);
    expect(equalOpportunityDifference(input)).toBe(0.5);
    expect(equalizedOddsDifference(input)).toBe(1);
  });
  it('a group without positives has no TPR: error instead of a silent 0', () => {
    const bad = { yTrue: [0, 0, 1, 0], yPred: [1, 0, 1, 0], sensitive: [1, 1, 2, 2] };
    expect(() => equalOpportunityDifference(bad)).toThrow(/group 1 has no actual positives/);
    expect(() => demographicParityDifference({ ...bad, sensitive: [1, 1, 1] })).toThrow(/length/);
    expect(() => demographicParityDifference({ ...bad, yPred: [0.5, 0, 1, 0] })).toThrow(/binary/);
  });
});
