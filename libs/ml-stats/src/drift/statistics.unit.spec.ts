import { describe, expect, it } from 'vitest';
import { Prng } from '../random/prng';
import { CategoricalSummary } from '../summary/categorical-summary';
import { compareCategorical, compareNumeric } from '../summary/compare';
import { KllSketch, weightedKsStatistic } from '../summary/kll';
import { ksPValue } from './ks';
import { NumericSummary } from '../summary/numeric-summary';
import {
  columnDriftReport,
  defaultDriftStatistic,
  DRIFT_STATISTIC,
  DRIFT_STATISTICS,
  EXACT_KS_MAX_PAIRS,
  isDrift,
  testDrift,
} from './statistics';

function normal(prng: Prng, n: number, shift = 0): number[] {
  return Array.from({ length: n }, () => {
    const u = Math.max(prng.next(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * prng.next()) + shift;
  });
}

describe('drift statistics, each declared once', () => {
  const prng = new Prng(7);
  const reference = NumericSummary.fromReference(normal(prng, 1_000), 10);
  const same = new NumericSummary(reference.edges).addAll(normal(prng, 800));
  const shifted = new NumericSummary(reference.edges).addAll(normal(prng, 800, 0.5));
  const colours = new CategoricalSummary().addAll(
    Array.from({ length: 3_000 }, (_, i) => ['red', 'green', 'blue'][i % 3]),
  );
  const reds = new CategoricalSummary().addAll(Array.from({ length: 600 }, (_, i) => (i % 2 ? 'red' : 'green')));

  it('gives the values compareNumeric and compareCategorical give', () => {
    const numeric = compareNumeric(reference, shifted);
    expect(DRIFT_STATISTIC.psi.measure(reference, shifted)).toBe(numeric.psi);
    expect(DRIFT_STATISTIC['jensen-shannon'].measure(reference, shifted)).toBe(numeric.jensenShannon);
    // 1,000 × 800 sample pairs: above EXACT_KS_MAX_PAIRS, the asymptotic p-value of the same statistic
    expect(DRIFT_STATISTIC.ks.measure(reference, shifted)).toBe(
      ksPValue(
        weightedKsStatistic(reference.sketch.weightedItems(), shifted.sketch.weightedItems()),
        1_000,
        800,
        'asymp',
      ).pValue,
    );
    expect(DRIFT_STATISTIC.wasserstein.measure(reference, shifted)).toBe(numeric.wassersteinNormed);
    const categorical = compareCategorical(colours, reds);
    expect(DRIFT_STATISTIC.chi2.measure(colours, reds)).toBe(categorical.chiSquare.pValue);
    expect(DRIFT_STATISTIC.psi.measure(colours, reds)).toBe(categorical.psi);
  });

  it('takes the asymptotic KS p-value once the exact one would cost more than EXACT_KS_MAX_PAIRS sample pairs', () => {
    const large = NumericSummary.fromReference(normal(prng, 20_000), 10);
    const window = new NumericSummary(large.edges).addAll(normal(prng, 2_000, 0.05));
    const d = weightedKsStatistic(large.sketch.weightedItems(), window.sketch.weightedItems());
    expect(20_000 * 2_000).toBeGreaterThan(EXACT_KS_MAX_PAIRS);
    expect(DRIFT_STATISTIC.ks.measure(large, window)).toBe(ksPValue(d, 20_000, 2_000, 'asymp').pValue);
    // below the bound, and for equal sizes whatever they are, the exact one (SciPy's auto), as compareNumeric gives
    const small = NumericSummary.fromReference(normal(prng, 500), 10);
    const smallWindow = new NumericSummary(small.edges).addAll(normal(prng, 400, 0.3));
    expect(500 * 400).toBeLessThanOrEqual(EXACT_KS_MAX_PAIRS);
    expect(DRIFT_STATISTIC.ks.measure(small, smallWindow)).toBe(compareNumeric(small, smallWindow).ks.pValue);
    const twin = new NumericSummary(reference.edges).addAll(normal(prng, 1_000, 0.2));
    expect(DRIFT_STATISTIC.ks.measure(reference, twin)).toBe(compareNumeric(reference, twin).ks.pValue);
    expect(compareNumeric(reference, twin).ks.method).toBe('exact');
  });

  it('names every statistic of the contracts once', () => {
    expect(Object.keys(DRIFT_STATISTIC).sort()).toEqual([...DRIFT_STATISTICS].sort());
  });

  it('cuts distances at or above the threshold and p-values below it', () => {
    expect(isDrift('psi', 0.2, 0.2)).toBe(true);
    expect(isDrift('psi', 0.19, 0.2)).toBe(false);
    expect(isDrift('ks', 0.05, 0.05)).toBe(false);
    expect(isDrift('ks', 0.049, 0.05)).toBe(true);
  });

  it('defaults to a test up to 1,000 rows and to a distance above, by column kind', () => {
    expect(defaultDriftStatistic('numeric', 1_000)).toBe('ks');
    expect(defaultDriftStatistic('numeric', 1_001)).toBe('wasserstein');
    expect(defaultDriftStatistic('categorical', 200)).toBe('chi2');
    expect(defaultDriftStatistic('categorical', 5_000)).toBe('jensen-shannon');
  });

  it('finds a half-sigma shift and leaves an in-distribution window alone under the default test', () => {
    expect(testDrift(reference, same)).toMatchObject({ statistic: 'ks', threshold: 0.05, drifted: false });
    expect(testDrift(reference, shifted)).toMatchObject({ statistic: 'ks', drifted: true });
    expect(testDrift(colours, reds)).toMatchObject({ statistic: 'chi2', drifted: true });
  });

  it('uses the chosen statistic and threshold, and refuses one that does not fit the column', () => {
    expect(testDrift(reference, shifted, { statistic: 'psi', threshold: 5 })).toMatchObject({
      statistic: 'psi',
      threshold: 5,
      drifted: false,
    });
    expect(() => testDrift(colours, reds, { statistic: 'ks' })).toThrow(/does not apply to categorical/);
  });
});

describe('KllSketch.weightedItems', () => {
  it('lists every retained item in ascending order with weights summing to the count', () => {
    const sketch = new KllSketch(64, 3);
    const prng = new Prng(3);
    for (let i = 0; i < 50_000; i++) sketch.update(Math.round(prng.next() * 1_000) / 10);
    const { values, weights, total } = sketch.weightedItems();
    expect(values.length).toBe(sketch.retained);
    for (let i = 1; i < values.length; i++) expect(values[i]).toBeGreaterThanOrEqual(values[i - 1]);
    expect(weights.reduce((sum, w) => sum + w, 0)).toBe(total);
    expect(total).toBe(50_000);
  });
});

describe('columnDriftReport', () => {
  const prng = new Prng(11);
  const reference = NumericSummary.fromReference(normal(prng, 1_000), 10);
  const shifted = new NumericSummary(reference.edges).addAll(normal(prng, 800, 0.5));

  it('given no choice, when reported, then the default test judges, with PSI, JS and the p-value beside it', () => {
    const report = columnDriftReport(reference, shifted);
    expect(report).toMatchObject({
      kind: 'numeric',
      statistic: 'ks',
      threshold: 0.05,
      currentCount: 800,
      drifted: true,
    });
    expect(report.value).toBe(report.pValue);
    expect(report.psi).toBe(DRIFT_STATISTIC.psi.measure(reference, shifted));
    expect(report.jensenShannon).toBe(DRIFT_STATISTIC['jensen-shannon'].measure(reference, shifted));
  });

  it('given a choice, when reported, then its statistic and threshold judge', () => {
    const report = columnDriftReport(reference, shifted, { statistic: 'wasserstein', threshold: 0.9 });
    expect(report).toMatchObject({ statistic: 'wasserstein', threshold: 0.9, drifted: false });
    expect(report.value).toBeCloseTo(0.5, 1);
  });
});
