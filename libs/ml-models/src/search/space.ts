import { InvalidParameterError } from '../core/errors';
import { type Rng } from '../core/random';

/** One hyperparameter's distribution. */
export type Distribution =
  | { kind: 'uniform'; min: number; max: number }
  | { kind: 'logUniform'; min: number; max: number }
  | { kind: 'int'; min: number; max: number }
  | { kind: 'choice'; values: readonly (string | number | boolean)[] };

/** Search space: parameter name → distribution. */
export type SearchSpace = Readonly<Record<string, Distribution>>;

/** A sampled configuration. */
export type Params = Record<string, string | number | boolean>;

/** Check a space once, so a typo fails before any trial runs. */
export function validateSpace(space: SearchSpace): void {
  const names = Object.keys(space);
  if (names.length === 0) throw new InvalidParameterError('space', 'is empty');
  for (const name of names) {
    const d = space[name];
    if (d.kind === 'choice') {
      if (d.values.length === 0) throw new InvalidParameterError(name, 'choice has no values');
      continue;
    }
    if (!(Number.isFinite(d.min) && Number.isFinite(d.max) && d.min <= d.max)) {
      throw new InvalidParameterError(name, `needs finite min <= max, got [${d.min}, ${d.max}]`);
    }
    if (d.kind === 'logUniform' && d.min <= 0) throw new InvalidParameterError(name, 'logUniform needs min > 0');
    if (d.kind === 'int' && !(Number.isInteger(d.min) && Number.isInteger(d.max))) {
      throw new InvalidParameterError(name, 'int bounds must be integers');
    }
  }
}

/** Draw one configuration; parameters are drawn in sorted name order so results never depend on key order. */
export function sampleParams(space: SearchSpace, rng: Rng): Params {
  const out: Params = {};
  for (const name of Object.keys(space).sort()) {
    const d = space[name];
    switch (d.kind) {
      case 'uniform':
        out[name] = d.min + rng.next() * (d.max - d.min);
        break;
      case 'logUniform':
        out[name] = Math.exp(Math.log(d.min) + rng.next() * (Math.log(d.max) - Math.log(d.min)));
        break;
      case 'int':
        out[name] = d.min + rng.nextInt(d.max - d.min + 1);
        break;
      case 'choice':
        out[name] = d.values[rng.nextInt(d.values.length)];
        break;
    }
  }
  return out;
}
