import { CategoricalSummary } from '../summary/categorical-summary';

/** A window should expect at least this many rows in every category bin (the usual chi-square rule). */
export const MIN_EXPECTED_COUNT = 5;
/** The pooled bin; a control character, so no real category collides with it. */
export const OTHER_CATEGORY = '\u0000other';

/**
 * Pools categories the window would expect fewer than MIN_EXPECTED_COUNT rows of (by reference share), and
 * categories the reference never had, into one bin. Without it, sampling noise alone over dozens of rare categories
 * (in monitoring, Adult's native_country, ~40 of them, in a 200-row window) pushes PSI to the usual 0.2 threshold: most rare
 * categories are absent from any one window and each absent one adds (p − ε)·ln(p/ε) with ε = 1e-4.
 */
export function poolRareCategories(
  reference: CategoricalSummary,
  current: CategoricalSummary,
): { reference: CategoricalSummary; current: CategoricalSummary } {
  const minShare = MIN_EXPECTED_COUNT / current.count;
  const kept = new Set<string>();
  for (const [category, count] of reference.counts) if (count / reference.count >= minShare) kept.add(category);
  const pool = (summary: CategoricalSummary) => {
    const pooled = new CategoricalSummary();
    for (const [category, count] of summary.counts)
      pooled.addCount(kept.has(category) ? category : OTHER_CATEGORY, count);
    return pooled;
  };
  return { reference: pool(reference), current: pool(current) };
}
