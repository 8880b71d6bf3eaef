import { StatsInputError } from '../errors';
import { assertFinite, assertNonEmpty, assertSameLength, type Numbers } from '../internal/validate';

/** Logarithm base of a Jensen–Shannon distance: `e` (nats, SciPy's default) or 2 (bits, bounded by 1). */
export type LogBase = 'e' | 2;

/** x·ln(x/y) with SciPy's `rel_entr` conventions for zeros. */
function relEntr(x: number, y: number): number {
  if (x === 0) return 0;
  return y > 0 ? x * Math.log(x / y) : Infinity;
}

/**
 * Jensen–Shannon distance (the square root of the divergence), `scipy.spatial.distance.jensenshannon(p, q, base)`.
 * Inputs are non-negative weights over the same bins and are normalised to sum to 1. Default base e, which is what
 * SciPy and Evidently's `jensenshannon` test use (range [0, √ln 2]); base 2 gives a distance in [0, 1].
 */
export function jensenShannonDistance(p: Numbers, q: Numbers, base: LogBase = 'e'): number {
  assertSameLength(['p', 'q'], [p, q]);
  assertNonEmpty('p', p);
  assertFinite('p', p);
  assertFinite('q', q);
  let sp = 0;
  let sq = 0;
  for (let i = 0; i < p.length; i++) {
    if (p[i] < 0 || q[i] < 0) throw new StatsInputError('out-of-range', `weights must be ≥ 0 (bin ${i})`);
    sp += p[i];
    sq += q[i];
  }
  if (sp === 0 || sq === 0) throw new StatsInputError('empty', 'a distribution has zero total weight');
  let js = 0;
  for (let i = 0; i < p.length; i++) {
    const pi = p[i] / sp;
    const qi = q[i] / sq;
    const m = (pi + qi) / 2;
    js += relEntr(pi, m) + relEntr(qi, m);
  }
  if (base === 2) js /= Math.LN2;
  // Rounding can leave a tiny negative divergence for identical inputs; the distance is then 0.
  return Math.sqrt(Math.max(0, js / 2));
}
