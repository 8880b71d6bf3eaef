import { describe, expect, it } from 'vitest';
import fixture from '../fixtures/drift.json';
import { StatsInputError } from '../errors';
import { chiSquareContingency, chiSquareGoodnessOfFit } from './chi-square';
import { jensenShannonDistance } from './jensen-shannon';
import { ksPValue, ksTwoSample } from './ks';
import { categoricalProportions, evidentlyNumericBins, psi, psiEvidently } from './psi';
import { wassersteinDistance, wassersteinNormed } from './wasserstein';

function close(actual: number, expected: number, rtol: number, atol = 0): void {
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(atol + rtol * Math.abs(expected));
}

describe('PSI', () => {
  it('exact small case with an empty bin filled as Evidently does', () => {
    // Current has an empty bin: min non-zero 0.25 > 1e-4, so it becomes 1e-4.
    const ref = [0.5, 0.25, 0.25];
    const cur = [0.75, 0.25, 0];
    const expected = (0.5 - 0.75) * Math.log(0.5 / 0.75) + (0.25 - 1e-4) * Math.log(0.25 / 1e-4);
    close(psi(ref, cur), expected, 1e-15);
    expect(psi(ref, ref)).toBe(0);
  });
  it("matches Evidently's psi stat test (numeric Sturges bins, ≤20-value numeric, categorical with new/vanished values)", () => {
    const e = fixture.evidently;
    close(psiEvidently(fixture.numeric.reference, fixture.numeric.current, 'numeric'), e.psiNumeric, 1e-12);
    close(psiEvidently(fixture.smallInts.reference, fixture.smallInts.current, 'numeric'), e.psiSmallInts, 1e-12);
    close(
      psiEvidently(fixture.categorical.reference, fixture.categorical.current, 'categorical'),
      e.psiCategorical,
      1e-12,
    );
  });
  it('bad input', () => {
    expect(() => psi([0.5, 0.5], [1])).toThrow(StatsInputError);
    expect(() => psi([0, 0], [0.5, 0.5])).toThrow(/non-zero/);
    expect(() => psiEvidently([1, NaN], [1, 2], 'numeric')).toThrow(/finite/);
  });
});

describe('Jensen-Shannon distance', () => {
  it('matches scipy.spatial.distance.jensenshannon (base e and 2, with a zero weight)', () => {
    const js = fixture.scipy.jensenShannon;
    close(jensenShannonDistance(js.p, js.q), js.baseE, 1e-13);
    close(jensenShannonDistance(js.p, js.q, 2), js.base2, 1e-13);
  });
  it("matches Evidently's jensenshannon test (same binning as PSI, no zero filling)", () => {
    const e = fixture.evidently;
    const num = evidentlyNumericBins(fixture.numeric.reference, fixture.numeric.current);
    close(jensenShannonDistance(num.reference, num.current), e.jensenShannonNumeric, 1e-12);
    const cat = categoricalProportions(fixture.categorical.reference, fixture.categorical.current);
    close(jensenShannonDistance(cat.reference, cat.current), e.jensenShannonCategorical, 1e-12);
  });
  it('exact: disjoint supports give √ln2 (base e) and 1 (base 2)', () => {
    close(jensenShannonDistance([1, 0], [0, 1]), Math.sqrt(Math.LN2), 1e-15);
    close(jensenShannonDistance([1, 0], [0, 1], 2), 1, 1e-15);
  });
});

describe('Wasserstein distance', () => {
  it('matches scipy.stats.wasserstein_distance and Evidently wasserstein (normed)', () => {
    close(wassersteinDistance(fixture.numeric.reference, fixture.numeric.current), fixture.scipy.wasserstein, 1e-12);
    close(
      wassersteinNormed(fixture.numeric.reference, fixture.numeric.current),
      fixture.evidently.wassersteinNormed,
      1e-12,
    );
  });
  it('exact', () => {
    expect(wassersteinDistance([0, 1, 3], [5, 6, 8])).toBe(5);
    expect(wassersteinDistance([0], [1, 2])).toBe(1.5);
  });
});

describe('two-sample KS matches scipy.stats.ks_2samp', () => {
  it('raw samples: exact (equal / unequal sizes, ties) and asymptotic', () => {
    for (const c of fixture.ksCases) {
      const r = ksTwoSample(c.a, c.b, c.method as 'auto' | 'asymp');
      close(r.statistic, c.statistic, 1e-14);
      close(r.pValue, c.pValue, 1e-9, 1e-14);
    }
    const main = ksTwoSample(fixture.numeric.reference, fixture.numeric.current);
    close(main.pValue, fixture.scipy.ks.pValue, 1e-9);
    close(main.pValue, fixture.evidently.ksPValue, 1e-9);
  });
  it('large windows (asymptotic kstwo branch) within 1e-6 absolute and 1e-8 relative', () => {
    for (const c of fixture.ksLarge) {
      const r = ksPValue(c.statistic, c.n1, c.n2);
      expect(r.method).toBe('asymp');
      close(r.pValue, c.pValue, 1e-8, 1e-300);
      expect(Math.abs(r.pValue - c.pValue)).toBeLessThan(1e-6);
    }
  });
  it('exact small case and bad input', () => {
    // Disjoint samples of 3 and 3: D = 1, p = 2 / C(6,3) = 0.1.
    const r = ksTwoSample([1, 2, 3], [4, 5, 6]);
    expect(r.statistic).toBe(1);
    close(r.pValue, 0.1, 1e-14);
    expect(() => ksTwoSample([], [1])).toThrow(expect.objectContaining({ code: 'empty' }));
    expect(() => ksTwoSample([1, Infinity], [1])).toThrow(/finite/);
  });
});

describe('chi-square', () => {
  it('matches scipy.stats.chi2_contingency (with Yates on 2×2) and chisquare', () => {
    for (const c of [fixture.scipy.contingency2, fixture.scipy.contingency5]) {
      const r = chiSquareContingency(c.table);
      close(r.statistic, c.statistic, 1e-13);
      close(r.pValue, c.pValue, 1e-11);
      expect(r.dof).toBe(c.dof);
    }
    const g = fixture.scipy.goodnessOfFit;
    const r = chiSquareGoodnessOfFit(g.observed, g.expected);
    close(r.statistic, g.statistic, 1e-14);
    close(r.pValue, g.pValue, 1e-11);
  });
  it('bad input', () => {
    expect(() => chiSquareGoodnessOfFit([1, 2], [3, 0])).toThrow(/expected\[1\] is 0/);
    expect(() => chiSquareContingency([[1, -2]])).toThrow(/≥ 0/);
    expect(chiSquareContingency([[3], [4]])).toEqual({ statistic: 0, pValue: 1, dof: 0 });
  });
});
