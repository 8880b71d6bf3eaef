/** Why a statistic could not be computed; stable strings so callers can branch on them. */
export type StatsErrorCode =
  'empty' | 'non-finite' | 'length-mismatch' | 'single-class' | 'out-of-range' | 'invalid-argument' | 'undefined';

/**
 * The one error type of `@keel/ml-stats`: bad input never yields a silently wrong number (NaN, Infinity,
 * a metric of the wrong thing); it throws this with a message naming the argument and the problem.
 */
export class StatsInputError extends Error {
  constructor(
    readonly code: StatsErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'StatsInputError';
  }
}
