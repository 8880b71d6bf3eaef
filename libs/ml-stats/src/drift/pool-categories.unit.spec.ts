import { describe, expect, it } from 'vitest';
import { CategoricalSummary } from '../summary/categorical-summary';
import { OTHER_CATEGORY, poolRareCategories } from './pool-categories';
import { columnDriftReport } from './statistics';

function counts(entries: Record<string, number>): CategoricalSummary {
  const summary = new CategoricalSummary();
  for (const [category, count] of Object.entries(entries)) summary.addCount(category, count);
  return summary;
}

/** 2,000 rows evenly over 25 categories: each 4 %, rare for a 100-row sample (it would expect 4 rows of each). */
const evenOver25 = counts(Object.fromEntries(Array.from({ length: 25 }, (_, i) => [`c${i}`, 80])));

describe('poolRareCategories', () => {
  it('given 25 even categories, when a 100-row sample holds only c0 and c1, then they keep their bins and it drifts', () => {
    const pooled = poolRareCategories(evenOver25, counts({ c0: 50, c1: 50 }))!;
    expect([...pooled.current.counts].sort()).toEqual([
      ['c0', 50],
      ['c1', 50],
    ]);
    expect(pooled.reference.counts.get(OTHER_CATEGORY)).toBe(23 * 80);
    const report = columnDriftReport(pooled.reference, pooled.current);
    expect(report.statistic).toBe('chi2');
    expect(report.pValue).toBeLessThan(1e-50);
    expect(report.psi).toBeGreaterThan(1);
    expect(report.jensenShannon).toBeGreaterThan(0.3);
    expect(report.drifted).toBe(true);
  });

  it('given a rare tail, when a new category replaces it, then the new category has its own bin and it drifts', () => {
    const tail = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`rare${i}`, 10]));
    const reference = counts({ a: 900, b: 900, ...tail });
    const pooled = poolRareCategories(reference, counts({ a: 45, b: 45, Martian: 10 }))!;
    expect(pooled.current.counts.get('Martian')).toBe(10);
    expect(pooled.reference.counts.get(OTHER_CATEGORY)).toBe(200);
    expect(columnDriftReport(pooled.reference, pooled.current).drifted).toBe(true);
  });

  it('given a 200-row window, when categories are rare in both samples, then they share one bin', () => {
    const reference = counts({ US: 900, Mexico: 30, Peru: 20, Laos: 5 });
    const pooled = poolRareCategories(reference, counts({ US: 180, Peru: 15, Atlantis: 3, Laos: 2 }))!;
    // Peru is rare by its reference share (4.2 expected) but not in the window (15): kept.
    expect([...pooled.reference.counts]).toEqual([
      ['US', 900],
      ['Mexico', 30],
      ['Peru', 20],
      [OTHER_CATEGORY, 5],
    ]);
    expect([...pooled.current.counts]).toEqual([
      ['US', 180],
      ['Peru', 15],
      [OTHER_CATEGORY, 5],
    ]);
  });

  it('given every category rare in both samples, when pooled, then it is not measurable (undefined), not "no drift"', () => {
    const current = counts(Object.fromEntries(Array.from({ length: 25 }, (_, i) => [`c${i}`, 4])));
    expect(poolRareCategories(evenOver25, current)).toBeUndefined();
  });

  it('given one category on both sides, when pooled, then it is one bin and measurable (nothing moved)', () => {
    const pooled = poolRareCategories(counts({ a: 10 }), counts({ a: 3 }))!;
    expect(columnDriftReport(pooled.reference, pooled.current).drifted).toBe(false);
  });
});
