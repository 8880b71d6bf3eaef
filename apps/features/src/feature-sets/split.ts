import { type SplitName, unitHash } from '@keel/datasets';

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
 * Assigns every row a split. `random`: each row by a seeded hash of its stable row key, holdout with probability
 * holdoutFraction and validation with validationFraction of the rest, so a row keeps its split in every window that
 * contains it and a later, larger window never trains on an earlier model's holdout; `time`: rows ordered by their
 * time value (ISO strings sort lexically; ties keep row order), the latest held out and the ones before them used for
 * validation, so evaluation never looks into the past of the training data's future.
 */
export function assignSplits(
  options: SplitOptions,
  rowCount: number,
  times: readonly unknown[] | undefined,
  rowKeys: ArrayLike<number>,
): SplitName[] {
  if (options.strategy === 'random') {
    const validationBelow = options.holdoutFraction + options.validationFraction * (1 - options.holdoutFraction);
    return Array.from({ length: rowCount }, (_, i): SplitName => {
      const u = unitHash(options.seed, rowKeys[i]);
      return u < options.holdoutFraction ? 'holdout' : u < validationBelow ? 'validation' : 'train';
    });
  }
  const sizes = splitSizes(rowCount, options.holdoutFraction, options.validationFraction);
  if (!times) throw new Error('a time split needs the time column values');
  const key = (i: number) => (times[i] === null || times[i] === undefined ? '' : String(times[i]));
  const order = Uint32Array.from({ length: rowCount }, (_, i) => i).sort((a, b) => {
    const ka = key(a);
    const kb = key(b);
    return ka < kb ? -1 : ka > kb ? 1 : a - b;
  });
  // In `order`: train first, then validation, then holdout (the latest rows).
  const splits = new Array<SplitName>(rowCount);
  for (let k = 0; k < rowCount; k++) {
    splits[order[k]] = k < sizes.train ? 'train' : k < sizes.train + sizes.validation ? 'validation' : 'holdout';
  }
  return splits;
}
