import { BusinessGate } from '@keel/contracts';
import { describe, expect, it } from 'vitest';
import { businessCost } from './business-cost';
import { evaluateBusinessGate } from './gates';

describe('business cost per 1,000 predictions', () => {
  const yTrue = Float64Array.of(1, 1, 0, 0, 0);
  const scores = Float64Array.of(0.9, 0.2, 0.7, 0.1, 0.4);
  // outcomes: TP 1, FN 1, FP 1, TN 2
  const gate = BusinessGate.parse({
    costMatrix: { truePositive: -50, falsePositive: 10, falseNegative: 100 },
    maxCostPer1000: 10_000,
  });

  it('prices each outcome of the decision at 0.5 with the cost matrix', () => {
    // (−50 + 10 + 100 + 2 × 0) / 5 × 1,000 = 12,000
    expect(businessCost(gate, yTrue, scores)).toEqual({
      costPer1000: 12_000,
      rows: 5,
      outcomes: { truePositive: 1, falsePositive: 1, trueNegative: 2, falseNegative: 1 },
    });
  });

  it('prices regression errors by absolute or squared error', () => {
    const truth = Float64Array.of(10, 20);
    const predicted = Float64Array.of(12, 17);
    const absolute = BusinessGate.parse({ errorCost: { perUnit: 0.5 }, maxCostPer1000: 1 });
    const squared = BusinessGate.parse({ errorCost: { perUnit: 0.5, of: 'squared-error' }, maxCostPer1000: 1 });
    // (2 + 3) × 0.5 / 2 × 1,000 = 1,250; (4 + 9) × 0.5 / 2 × 1,000 = 3,250
    expect(businessCost(absolute, truth, predicted)).toEqual({ costPer1000: 1_250, rows: 2 });
    expect(businessCost(squared, truth, predicted)).toEqual({ costPer1000: 3_250, rows: 2 });
  });

  it('fails the gate above its maximum, naming the outcomes; passes at or below; fails when not measured', () => {
    const measured = businessCost(gate, yTrue, scores);
    expect(evaluateBusinessGate(gate, measured)).toEqual({
      gate: 'expected cost per 1000 predictions <= 10000',
      passed: false,
      observed: 12_000,
      threshold: 10_000,
      message: 'cost 12000 > max 10000: TP 1, FP 1, TN 2, FN 1 of 5 holdout rows',
    });
    expect(evaluateBusinessGate({ ...gate, maxCostPer1000: 12_000 }, measured).passed).toBe(true);
    expect(evaluateBusinessGate(gate, undefined)).toMatchObject({
      passed: false,
      message: 'the cost was not measured on the holdout',
    });
  });

  it('refuses a gate with both prices or neither', () => {
    expect(() => BusinessGate.parse({ maxCostPer1000: 1 })).toThrow(/either costMatrix .* or errorCost/);
  });
});
