import { type SplitName } from '@keel/datasets';
import { Rng } from '@keel/ml-models';

/** The `split` section of a pipeline spec, resolved (defaults applied). */
export interface SplitOptions {
  strategy: 'random' | 'time';
  holdoutFraction: number;
  validationFraction: number;
  seed: number;
}

/** How many rows go to each split: holdout first, then validation out of the rest; train keeps at least one row. */
export function splitSizes(
  rowCount: number,
  holdoutFraction: number,
  validationFraction: number,
): Record<SplitName, number> {
  const holdout = Math.min(Math.max(rowCount - 1, 0), Math.round(rowCount * holdoutFraction));
  const rest = rowCount - holdout;
  const validation = Math.min(Math.max(rest - 1, 0), Math.round(rest * validationFraction));
  return { train: rest - validation, validation, holdout };
}

/**
 * Assigns every row a split. `random`: a seeded shuffle (same seed ⇒ same assignment); `time`: rows ordered by their
 * time value (ISO strings sort lexically; ties keep row order), the latest held out and the ones before them used for
 * validation, so evaluation never looks into the past of the training data's future.
 */
export function assignSplits(options: SplitOptions, rowCount: number, times?: readonly unknown[]): SplitName[] {
  const sizes = splitSizes(rowCount, options.holdoutFraction, options.validationFraction);
  const order = Uint32Array.from({ length: rowCount }, (_, i) => i);
  if (options.strategy === 'random') {
    new Rng(options.seed).shuffle(order);
  } else {
    if (!times) throw new Error('a time split needs the time column values');
    const key = (i: number) => (times[i] === null || times[i] === undefined ? '' : String(times[i]));
    order.sort((a, b) => {
      const ka = key(a);
      const kb = key(b);
      return ka < kb ? -1 : ka > kb ? 1 : a - b;
    });
  }
  // In `order`: train first, then validation, then holdout (for time, the latest rows).
  const splits = new Array<SplitName>(rowCount);
  for (let k = 0; k < rowCount; k++) {
    splits[order[k]] = k < sizes.train ? 'train' : k < sizes.train + sizes.validation ? 'validation' : 'holdout';
  }
  return splits;
}
