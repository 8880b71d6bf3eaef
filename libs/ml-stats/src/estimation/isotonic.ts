import { StatsInputError } from '../errors';
import { assertFinite, assertNonEmpty, assertSameLength, type Numbers } from '../internal/validate';

/**
 * Increasing isotonic regression of y on x, as scikit-learn's `IsotonicRegression(out_of_bounds='clip')`: equal x
 * values are pooled (mean y), pool-adjacent-violators fits the non-decreasing step values, and `predict`
 * interpolates linearly between the fitted points, clipping x to the fitted range.
 */
export class IsotonicRegression {
  private constructor(
    private readonly xs: Float64Array,
    private readonly ys: Float64Array,
  ) {}

  static fit(x: Numbers, y: Numbers, weights?: Numbers): IsotonicRegression {
    assertSameLength(['x', 'y'], [x, y]);
    assertNonEmpty('x', x);
    assertFinite('x', x);
    assertFinite('y', y);
    if (weights && weights.length !== x.length) throw new StatsInputError('length-mismatch', 'weights must match x');
    const order = Array.from(x, (_, i) => i).sort((a, b) => x[a] - x[b] || y[a] - y[b]);
    // Pool equal x values: their weighted mean y with their summed weight.
    const ux: number[] = [];
    const uy: number[] = [];
    const uw: number[] = [];
    for (const i of order) {
      const w = weights ? weights[i] : 1;
      const last = ux.length - 1;
      if (last >= 0 && ux[last] === x[i]) {
        uy[last] += y[i] * w;
        uw[last] += w;
      } else {
        ux.push(x[i]);
        uy.push(y[i] * w);
        uw.push(w);
      }
    }
    for (let i = 0; i < uy.length; i++) uy[i] /= uw[i];
    return new IsotonicRegression(Float64Array.from(ux), poolAdjacentViolators(uy, uw));
  }

  /** Fitted values at `x` (clipped to the fitted range, linear between fitted points). */
  predict(x: Numbers): Float64Array {
    const out = new Float64Array(x.length);
    const { xs, ys } = this;
    const n = xs.length;
    for (let i = 0; i < x.length; i++) {
      const v = x[i];
      if (n === 1 || v <= xs[0]) {
        out[i] = ys[0];
        continue;
      }
      if (v >= xs[n - 1]) {
        out[i] = ys[n - 1];
        continue;
      }
      let lo = 0;
      let hi = n - 1;
      while (hi - lo > 1) {
        const mid = (lo + hi) >> 1;
        if (xs[mid] <= v) lo = mid;
        else hi = mid;
      }
      out[i] = xs[lo] === v ? ys[lo] : ys[lo] + ((ys[hi] - ys[lo]) * (v - xs[lo])) / (xs[hi] - xs[lo]);
    }
    return out;
  }
}

/** Non-decreasing least-squares fit of `values` with `weights` (pool adjacent violators). */
function poolAdjacentViolators(values: readonly number[], weights: readonly number[]): Float64Array {
  const means: number[] = [];
  const masses: number[] = [];
  const counts: number[] = [];
  for (let i = 0; i < values.length; i++) {
    means.push(values[i]);
    masses.push(weights[i]);
    counts.push(1);
    while (means.length > 1 && means[means.length - 2] > means[means.length - 1]) {
      const m = masses.pop()!;
      const v = means.pop()!;
      const c = counts.pop()!;
      const last = means.length - 1;
      const mass = masses[last] + m;
      means[last] = (means[last] * masses[last] + v * m) / mass;
      masses[last] = mass;
      counts[last] += c;
    }
  }
  const fitted = new Float64Array(values.length);
  let at = 0;
  for (let block = 0; block < means.length; block++) {
    for (let k = 0; k < counts[block]; k++) fitted[at++] = means[block];
  }
  return fitted;
}
