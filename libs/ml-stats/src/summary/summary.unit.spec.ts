import { describe, expect, it } from 'vitest';
import fixture from '../fixtures/drift.json';
import { chiSquareContingency } from '../drift/chi-square';
import { ksStatisticSorted, ksTwoSample } from '../drift/ks';
import { psiFromCounts } from '../drift/psi';
import { wassersteinDistance } from '../drift/wasserstein';
import { StatsInputError } from '../errors';
import { Prng } from '../random/prng';
import { CategoricalSummary } from './categorical-summary';
import { compareCategorical, compareNumeric } from './compare';
import { KllSketch } from './kll';
import { NumericSummary } from './numeric-summary';

function normals(n: number, seed: number, shift = 0, scale = 1): Float64Array {
  const rng = new Prng(seed);
  return Float64Array.from({ length: n }, () => shift + scale * rng.normal());
}

describe('KLL sketch', () => {
  it('is exact while nothing was compacted, and keeps total weight', () => {
    const s = new KllSketch(64);
    for (let i = 1; i <= 20; i++) s.update(i);
    expect(s.quantile(0.5)).toBe(10);
    const big = new KllSketch(64);
    for (let i = 0; i < 10_000; i++) big.update(i);
    const items = big.weightedItems();
    expect(items.weights.reduce((a, b) => a + b, 0)).toBe(10_000);
    expect(big.retained).toBeLessThan(300);
    expect(Math.abs(big.quantile(0.25) - 2500)).toBeLessThan(10_000 * 0.05);
  });
  it('round-trips through JSON and merges deterministically', () => {
    const a = new KllSketch(128, 3);
    const b = new KllSketch(128, 4);
    normals(5000, 1).forEach((v) => a.update(v));
    normals(7000, 2).forEach((v) => b.update(v));
    const m1 = a.merge(b);
    const m2 = KllSketch.fromJSON(JSON.parse(JSON.stringify(a.toJSON()))).merge(b);
    expect(m1.toJSON()).toEqual(m2.toJSON());
    expect(m1.count).toBe(12_000);
    expect(() => a.update(NaN)).toThrow(StatsInputError);
  });
});

describe('NumericSummary', () => {
  const ref = normals(50_000, 11);
  const cur = normals(40_000, 12, 0.1, 1.2);
  const refSummary = NumericSummary.fromReference(ref, 10);

  it('merging window halves equals one pass (bins, count, mean, std exactly; sketch within its error)', () => {
    const whole = new NumericSummary(refSummary.edges).addAll(cur);
    const left = new NumericSummary(refSummary.edges).addAll(cur.subarray(0, 15_000));
    const right = new NumericSummary(refSummary.edges).addAll(cur.subarray(15_000));
    const merged = NumericSummary.fromJSON(JSON.parse(JSON.stringify(left.merge(right).toJSON())));
    expect(Array.from(merged.binCounts)).toEqual(Array.from(whole.binCounts));
    expect(merged.count).toBe(40_000);
    expect(merged.mean).toBeCloseTo(whole.mean, 12);
    expect(merged.std).toBeCloseTo(whole.std, 12);
    expect(Math.abs(merged.sketch.quantile(0.5) - whole.sketch.quantile(0.5))).toBeLessThan(0.02);
  });

  it('drift statistics: PSI/JS exact for the bins, KS and Wasserstein within the documented sketch error', () => {
    const curSummary = new NumericSummary(refSummary.edges).addAll(cur);
    const drift = compareNumeric(refSummary, curSummary);
    expect(drift.psi).toBeCloseTo(psiFromCounts(refSummary.binCounts, curSummary.binCounts), 15);
    const exactD = ksStatisticSorted(Float64Array.from(ref).sort(), Float64Array.from(cur).sort());
    // k = 1024: measured |ΔD| ≤ 0.002 over 200k-row trials; allow 0.004 here.
    expect(Math.abs(drift.ks.statistic - exactD)).toBeLessThan(0.004);
    expect(Math.abs(drift.wasserstein - wassersteinDistance(ref, cur))).toBeLessThan(0.005);
    expect(drift.ks.pValue).toBeLessThan(1e-6);
    expect(ksTwoSample(ref, cur).pValue).toBeLessThan(1e-6);
    expect(drift.drifted.wasserstein).toBe(true);
  });

  it('missing values and bad input', () => {
    const s = new NumericSummary([0, 1]);
    s.addAll([null, 0.5, null, 2]);
    expect(s.missing).toBe(2);
    expect(Array.from(s.binCounts)).toEqual([0, 1, 1]);
    expect(() => s.add(NaN)).toThrow(/null for a missing value/);
    expect(() => new NumericSummary([1, 1])).toThrow(/strictly increasing/);
    expect(() => s.merge(new NumericSummary([0, 2]))).toThrow(/different bin edges/);
    expect(() => compareNumeric(s, new NumericSummary([0, 1]))).toThrow(expect.objectContaining({ code: 'empty' }));
  });
});

describe('CategoricalSummary', () => {
  it('merges, round-trips and matches the raw-data tests', () => {
    const { reference, current } = fixture.categorical;
    const ref = new CategoricalSummary().addAll(reference);
    const a = new CategoricalSummary().addAll(current.slice(0, 200));
    const b = new CategoricalSummary().addAll([...current.slice(200), null]);
    const cur = CategoricalSummary.fromJSON(JSON.parse(JSON.stringify(a.merge(b).toJSON())));
    expect(cur.count).toBe(current.length);
    expect(cur.missing).toBe(1);
    const drift = compareCategorical(ref, cur);
    // Evidently's PSI for categoricals uses the same per-value bins, so the summary value equals the fixture's.
    expect(drift.psi).toBeCloseTo(fixture.evidently.psiCategorical, 12);
    expect(drift.jensenShannon).toBeCloseTo(fixture.evidently.jensenShannonCategorical, 12);
    expect(drift.newCategories).toEqual(['white']);
    const keys = [...new Set([...reference, ...current])].sort();
    const table = [
      keys.map((k) => reference.filter((v) => v === k).length),
      keys.map((k) => current.filter((v) => v === k).length),
    ];
    expect(drift.chiSquare).toEqual(chiSquareContingency(table));
  });
});

describe('NumericSummary.rebin', () => {
  const prng = new Prng(3);
  const values = Array.from({ length: 5_000 }, (_, i) => (i % 50 === 0 ? null : prng.next() * 100));
  const own = NumericSummary.fromReference(values, 10);
  const otherEdges = [10, 20, 45.5, 80];

  it('given other edges, when rebinned, then it equals a summary built on them from the same values', () => {
    expect(own.rebin(otherEdges, values).toJSON()).toEqual(new NumericSummary(otherEdges).addAll(values).toJSON());
    // and the original is untouched
    expect(own.edges).toHaveLength(9);
  });

  it('given values other than the summary’s, when rebinned, then it refuses', () => {
    expect(() => own.rebin(otherEdges, values.slice(1_000))).toThrow(StatsInputError);
  });
});
