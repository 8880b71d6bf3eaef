import { describe, expect, it } from 'vitest';
import { comparisonRows } from './comparison-rows';

/** Keys 1..n with the given split per key. */
function rows(n: number, split: (key: number) => string, from = 1) {
  const keys = Array.from({ length: n }, (_, i) => i + from);
  return { keys, splits: keys.map(split) };
}

describe('comparisonRows', () => {
  it('compares on the newest candidate holdout rows the champion never held, leaving the older ones out', () => {
    // A sliding window: the champion held rows 1-100, the candidate holds 41-140; every fourth row is held out.
    const champion = rows(100, (key) => (key % 4 === 0 ? 'holdout' : 'train'));
    const candidate = rows(100, (key) => (key % 4 === 0 ? 'holdout' : 'train'), 41);
    const chosen = comparisonRows(candidate, champion, 5);
    const keys = chosen.indices.map((i) => candidate.keys[i]);
    expect(keys).toEqual([104, 108, 112, 116, 120, 124, 128, 132, 136, 140]);
    expect(chosen).toMatchObject({ newest: true, excludedRows: 15 });
  });

  it('falls back to every holdout row the champion never trained or validated on when too few are new', () => {
    const champion = rows(100, (key) => (key % 4 === 0 ? 'holdout' : key % 5 === 0 ? 'validation' : 'train'));
    // Two new rows only (101, 102), one of them held out... and a retrain on the same rows otherwise.
    const candidate = rows(102, (key) => (key % 4 === 0 || key === 102 ? 'holdout' : 'train'));
    const chosen = comparisonRows(candidate, champion, 5);
    const keys = chosen.indices.map((i) => candidate.keys[i]);
    // Rows the champion had held out too (multiples of 4) and the new one; nothing it trained on.
    expect(keys).toEqual([...Array.from({ length: 25 }, (_, i) => (i + 1) * 4), 102]);
    expect(chosen).toMatchObject({ newest: false, excludedRows: 0 });
  });

  it('leaves out holdout rows the champion trained on even in the fallback', () => {
    const champion = rows(10, () => 'train');
    const candidate = rows(10, (key) => (key <= 4 ? 'holdout' : 'train'));
    expect(comparisonRows(candidate, champion)).toEqual({ indices: [], excludedRows: 4, newest: false });
  });

  it('without the champion feature set (or row keys), scores every candidate holdout row', () => {
    const candidate = rows(8, (key) => (key % 2 === 0 ? 'holdout' : 'train'));
    expect(comparisonRows(candidate, undefined)).toEqual({ indices: [1, 3, 5, 7], excludedRows: 0, newest: false });
    expect(
      comparisonRows(
        { splits: candidate.splits },
        rows(8, () => 'train'),
      ),
    ).toMatchObject({
      indices: [1, 3, 5, 7],
      newest: false,
    });
  });
});
