import { CategoricalSummary } from '../summary/categorical-summary';

/** A window should expect at least this many rows in every category bin (the usual chi-square rule). */
export const MIN_EXPECTED_COUNT = 5;
/** The pooled bin; a control character, so no real category collides with it. */
export const OTHER_CATEGORY = '\u0000other';

/** Both samples over the same bins, rare categories pooled. */
export interface PooledCategories {
  reference: CategoricalSummary;
  current: CategoricalSummary;
}

/**
 * Pools the categories rare in BOTH samples into one bin: those a sample of the current one's size would expect fewer
 * than MIN_EXPECTED_COUNT rows of by their reference share, and that the current sample also holds fewer than
 * MIN_EXPECTED_COUNT rows of. Without pooling, sampling noise alone over dozens of rare categories (in monitoring,
 * Adult's native_country, ~40 of them, in a 200-row window) pushes PSI to the usual 0.2 threshold: most rare
 * categories are absent from any one window and each absent one adds (p − ε)·ln(p/ε) with ε = 1e-4.
 *
 * A category common in either sample keeps its own bin, so a change among rare categories stays visible (25 even
 * categories, a 100-row sample holding only two of them: both keep their bins and the rest pool into a bin the sample
 * has nothing in), and a category the reference never had keeps its own bin once the sample holds MIN_EXPECTED_COUNT
 * rows of it (a new category replacing the rare tail is seen).
 *
 * Undefined when pooling leaves fewer than two bins of samples that had more: every category is rare in both, so the
 * samples are too small to compare their categories ("not measurable", which must not read as "no drift").
 */
export function poolRareCategories(
  reference: CategoricalSummary,
  current: CategoricalSummary,
): PooledCategories | undefined {
  const minShare = MIN_EXPECTED_COUNT / current.count;
  const categories = new Set([...reference.counts.keys(), ...current.counts.keys()]);
  const kept = new Set<string>();
  for (const category of categories) {
    const rareInReference = (reference.counts.get(category) ?? 0) / reference.count < minShare;
    const rareInCurrent = (current.counts.get(category) ?? 0) < MIN_EXPECTED_COUNT;
    if (!rareInReference || !rareInCurrent) kept.add(category);
  }
  const pooledBins = kept.size + (kept.size < categories.size ? 1 : 0);
  if (categories.size >= 2 && pooledBins < 2) return undefined;
  const pool = (summary: CategoricalSummary) => {
    const pooled = new CategoricalSummary();
    for (const [category, count] of summary.counts)
      pooled.addCount(kept.has(category) ? category : OTHER_CATEGORY, count);
    return pooled;
  };
  return { reference: pool(reference), current: pool(current) };
}
