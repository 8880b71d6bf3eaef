import { describe, expect, it } from 'vitest';
import { assignSplits, splitSizes } from './split';

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
    );
    expect(splits).toEqual(['holdout', 'train', 'validation', 'train', 'train']);
  });

  it('given equal times, then row order breaks the tie', () => {
    const times = ['t', 't', 't', 't'];
    const splits = assignSplits({ strategy: 'time', holdoutFraction: 0.25, validationFraction: 0, seed: 1 }, 4, times);
    expect(splits).toEqual(['train', 'train', 'train', 'holdout']);
  });

  it('given a random split, then the counts follow the fractions and the same seed gives the same assignment', () => {
    const options = { strategy: 'random' as const, holdoutFraction: 0.2, validationFraction: 0.1, seed: 42 };
    const first = assignSplits(options, 100);
    expect(assignSplits(options, 100)).toEqual(first);
    const counts = { train: 0, validation: 0, holdout: 0 };
    for (const split of first) counts[split]++;
    expect(counts).toEqual({ train: 72, validation: 8, holdout: 20 });
    expect(assignSplits({ ...options, seed: 43 }, 100)).not.toEqual(first);
  });

  it('given a random split, then rows are shuffled rather than cut in order', () => {
    const splits = assignSplits({ strategy: 'random', holdoutFraction: 0.5, validationFraction: 0, seed: 7 }, 40);
    expect(splits.slice(0, 20).filter((s) => s === 'holdout').length).toBeGreaterThan(0);
    expect(splits.slice(20).filter((s) => s === 'train').length).toBeGreaterThan(0);
  });
});
