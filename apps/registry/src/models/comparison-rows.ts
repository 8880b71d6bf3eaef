/**
 * Which rows a candidate and the current champion are compared on (lifecycle: "a comparison on the same data").
 *
 * Both must be scored on rows neither trained on, and on drifting data those rows must be recent: a retrain on a
 * sliding window holds out rows spread over the whole window, most of them months older than anything the champion
 * failed on, and judged there the fresher candidate often loses to the model it was meant to replace. So the
 * comparison takes the newest labelled rows both never trained on: the candidate's holdout rows that were not in the
 * champion's feature set at all (they arrived after the champion was trained). Only when there are too few of those
 * (a retrain on the same data, or a champion without a known feature set) does it fall back to every candidate holdout
 * row the champion never trained or validated on.
 */

/** Newest rows needed before the comparison is made on them alone: fewer are too noisy to judge by. */
export const MIN_NEWEST_ROWS = 20;

/** A feature set's split and row-key columns (row keys are content hashes, stable across windows). */
export interface SplitRows {
  splits: readonly unknown[];
  keys?: readonly unknown[];
}

export interface ComparisonRows {
  /** Indices of the candidate feature set's rows to score both models on. */
  indices: number[];
  /** Candidate holdout rows left out (the champion trained or validated on them, or they are older than the newest). */
  excludedRows: number;
  /** Whether the rows are the newest ones, which the champion's feature set never held. */
  newest: boolean;
}

export function comparisonRows(
  candidate: SplitRows,
  champion: SplitRows | undefined,
  minNewestRows = MIN_NEWEST_ROWS,
): ComparisonRows {
  const seenByChampion = new Set<unknown>();
  const heldByChampion = new Set<unknown>();
  if (champion?.keys && candidate.keys) {
    champion.keys.forEach((key, i) => {
      heldByChampion.add(key);
      if (champion.splits[i] !== 'holdout') seenByChampion.add(key);
    });
  }
  const unseen: number[] = [];
  const newest: number[] = [];
  let holdoutRows = 0;
  candidate.splits.forEach((split, i) => {
    if (split !== 'holdout') return;
    holdoutRows++;
    const key = candidate.keys?.[i];
    if (seenByChampion.has(key)) return;
    unseen.push(i);
    if (heldByChampion.size > 0 && !heldByChampion.has(key)) newest.push(i);
  });
  const useNewest = newest.length >= minNewestRows;
  const indices = useNewest ? newest : unseen;
  return { indices, excludedRows: holdoutRows - indices.length, newest: useNewest };
}
