import { describe, expect, it } from 'vitest';
import fixture from '../fixtures/pretraining-bias.json';
import { preTrainingBias } from './pretraining-bias';

describe('pre-training bias metrics match SageMaker Clarify’s definitions on a hand-computed fixture', () => {
  it('binary labels: CI, DPL, KL, JS, LP, TVD and KS of each facet against the rest', () => {
    const { facet, labels, positive, expected } = fixture.binary;
    const measured = preTrainingBias({ facet, labels, positive });
    expect(measured.map((m) => m.facet)).toEqual(['F', 'M']);
    for (const m of measured) {
      const want = expected[m.facet as 'F' | 'M'];
      expect(m).toMatchObject({
        count: want.count,
        restCount: want.restCount,
        positiveProportion: want.positiveProportion,
        restPositiveProportion: want.restPositiveProportion,
        undefinedMetrics: {},
      });
      expect(Object.keys(m.metrics).sort()).toEqual(Object.keys(want.metrics).sort());
      for (const [name, value] of Object.entries(want.metrics)) {
        expect(m.metrics[name as keyof typeof m.metrics], `${m.facet} ${name}`).toBeCloseTo(value, 14);
      }
    }
  });

  it('several label classes: distances over every class; KL undefined where the facet lacks a label', () => {
    const { facet, labels, expected } = fixture.multiclass;
    const [x, y] = preTrainingBias({ facet, labels });
    for (const [name, value] of Object.entries(expected.x.metrics)) {
      expect(x.metrics[name as keyof typeof x.metrics], `x ${name}`).toBeCloseTo(value, 14);
    }
    // no positive label given: no DPL
    expect(x.metrics.difference_in_proportions_of_labels).toBeUndefined();
    expect(x.positiveProportion).toBeUndefined();
    expect(y.metrics.kl_divergence).toBeUndefined();
    expect(y.undefinedMetrics.kl_divergence).toBe(expected.y.undefinedKl);
    expect(y.metrics.total_variation_distance).toBeCloseTo(0.5, 14);
  });

  it('without labels (regression) only class imbalance; one facet value leaves the label metrics undefined', () => {
    expect(preTrainingBias({ facet: ['a', 'a', 'b'] }).map((m) => m.metrics)).toEqual([
      { class_imbalance: -1 / 3 },
      { class_imbalance: 1 / 3 },
    ]);
    const [only] = preTrainingBias({ facet: ['a', 'a'], labels: [0, 1], positive: 1 });
    expect(only.metrics).toEqual({ class_imbalance: -1 });
    expect(only.undefinedMetrics.difference_in_proportions_of_labels).toBe('every row is "a": no other rows');
  });

  it('rejects misaligned labels and a positive label no row has', () => {
    expect(() => preTrainingBias({ facet: ['a', 'b'], labels: [1] })).toThrow(/facet has 2 rows, labels 1/);
    expect(() => preTrainingBias({ facet: ['a', 'b'], labels: [0, 0], positive: 1 })).toThrow(/positive label 1/);
  });
});
