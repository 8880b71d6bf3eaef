import { StatsInputError } from '../errors';

/** Any array-like of numbers: plain arrays and typed arrays alike. */
export type Numbers = ArrayLike<number>;

export function assertNonEmpty(name: string, values: ArrayLike<unknown>): void {
  if (values.length === 0) throw new StatsInputError('empty', `${name} is empty`);
}

/** Rejects NaN and ±Infinity, naming the first offending index. */
export function assertFinite(name: string, values: Numbers): void {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) {
      throw new StatsInputError('non-finite', `${name}[${i}] is ${values[i]}; values must be finite numbers`);
    }
  }
}

export function assertSameLength(names: readonly string[], arrays: readonly ArrayLike<unknown>[]): void {
  const n = arrays[0].length;
  for (let k = 1; k < arrays.length; k++) {
    if (arrays[k].length !== n) {
      throw new StatsInputError(
        'length-mismatch',
        `${names[k]} has length ${arrays[k].length} but ${names[0]} has length ${n}`,
      );
    }
  }
}

/** The usual guard for paired arrays: same length, non-empty, finite. */
export function assertPaired(aName: string, a: Numbers, bName: string, b: Numbers): void {
  assertSameLength([aName, bName], [a, b]);
  assertNonEmpty(aName, a);
  assertFinite(aName, a);
  assertFinite(bName, b);
}

/** Probabilities must lie in [0, 1]. */
export function assertProbabilities(name: string, values: Numbers): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!(v >= 0 && v <= 1)) {
      throw new StatsInputError('out-of-range', `${name}[${i}] is ${v}; probabilities must lie in [0, 1]`);
    }
  }
}

/** Binary labels are exactly 0 or 1. */
export function assertBinary(name: string, values: Numbers): void {
  for (let i = 0; i < values.length; i++) {
    if (values[i] !== 0 && values[i] !== 1) {
      throw new StatsInputError('invalid-argument', `${name}[${i}] is ${values[i]}; binary labels must be 0 or 1`);
    }
  }
}

export function assertPositiveInteger(name: string, value: number): void {
  if (!Number.isInteger(value) || value <= 0) {
    throw new StatsInputError('invalid-argument', `${name} must be a positive integer, got ${value}`);
  }
}

/** Ascending copy as a Float64Array (its sort is numeric and much faster than Array#sort with a comparator). */
export function sortedCopy(values: Numbers): Float64Array {
  return Float64Array.from(values).sort();
}
