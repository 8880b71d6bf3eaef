import { rowKey } from '@keel/datasets';
import { describe, expect, it } from 'vitest';
import { assignSplits, splitSizes } from './split';

/** Row keys of `rows` distinct rows of one dataset version. */
const keysOf = (version: string, rows: number) => Array.from({ length: rows }, (_, i) => rowKey([version, i]));

describe('splitSizes', () => {
  it('holds out a fraction of all rows, then validates on a fraction of the rest', () => {
    expect(splitSizes(100, 0.2, 0.1)).toEqual({ train: 72, validation: 8, holdout: 20 });
    expect(splitSizes(10, 0.2, 0)).toEqual({ train: 8, validation: 0, holdout: 2 });
  });

  it('always keeps at least one training row', () => {
    expect(splitSizes(2, 0.9, 0.9)).toEqual({ train: 1, validation: 0, holdout: 1 });
    expect(splitSizes(1, 0.5, 0.5)).toEqual({ train: 1, validation: 0, holdout: 0 });
  });
});

describe('assignSplits', () => {
  it('given a time split, when rows are out of order, then the latest rows are held out and the ones before validate', () => {
    const times = ['2011-01-05', '2011-01-01', '2011-01-04', '2011-01-02', '2011-01-03'];
    const splits = assignSplits(
      { strategy: 'time', holdoutFraction: 0.2, validationFraction: 0.25, seed: 1 },
      5,
      times,
      [],
    );
    expect(splits).toEqual(['holdout', 'train', 'validation', 'train', 'train']);
  });

  it('given equal times, then row order breaks the tie', () => {
    const times = ['t', 't', 't', 't'];
    const splits = assignSplits(
      { strategy: 'time', holdoutFraction: 0.25, validationFraction: 0, seed: 1 },
      4,
      times,
      [],
    );
    expect(splits).toEqual(['train', 'train', 'train', 'holdout']);
  });

  const random = { strategy: 'random' as const, holdoutFraction: 0.2, validationFraction: 0.1, seed: 42 };

  it('given a random split, then the shares follow the fractions and the same seed gives the same assignment', () => {
    const keys = keysOf('v1', 20_000);
    const first = assignSplits(random, keys.length, undefined, keys);
    expect(assignSplits(random, keys.length, undefined, keys)).toEqual(first);
    const counts = { train: 0, validation: 0, holdout: 0 };
    for (const split of first) counts[split]++;
    // Binomial shares: 0.2 holdout, 0.08 validation, 0.72 train, each within four standard deviations.
    expect(Math.abs(counts.holdout / 20_000 - 0.2)).toBeLessThan(0.012);
    expect(Math.abs(counts.validation / 20_000 - 0.08)).toBeLessThan(0.008);
    expect(assignSplits({ ...random, seed: 43 }, keys.length, undefined, keys)).not.toEqual(first);
  });

  it('given a window that grows by a new version, then every row keeps its split', () => {
    const older = keysOf('v1', 500);
    const newer = keysOf('v2', 300);
    const before = assignSplits(random, older.length, undefined, older);
    const after = assignSplits(random, older.length + newer.length, undefined, [...older, ...newer]);
    expect(after.slice(0, older.length)).toEqual(before);
    // and a window that dropped the oldest rows keeps the splits of the rows it still holds
    const sliding = assignSplits(random, 600, undefined, [...older.slice(200), ...newer]);
    expect(sliding).toEqual(after.slice(200));
  });
});
