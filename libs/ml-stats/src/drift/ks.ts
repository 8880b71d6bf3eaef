import { StatsInputError } from '../errors';
import { gcd, roundHalfEven } from '../internal/numeric';
import { assertFinite, assertNonEmpty, sortedCopy, type Numbers } from '../internal/validate';
import { kolmogorovNSf } from '../special/kolmogorov';
import { probOutsideBand, probOutsideSquare } from '../special/ks-two-sample';

/** `exact` lattice-path p-value, `asymp` SciPy's kstwo approximation; `auto` = exact when both sizes ≤ 10 000. */
export type KsMethod = 'auto' | 'exact' | 'asymp';

/** Result of a two-sided two-sample KS test. */
export interface KsResult {
  /** sup |F₁ − F₂|. */
  readonly statistic: number;
  readonly pValue: number;
  /** The method actually used (auto resolves to one of the other two). */
  readonly method: 'exact' | 'asymp';
}

const MAX_AUTO_N = 10_000;

/** sup |F₁ − F₂| of two ascending samples, evaluated after each distinct value exactly as SciPy does. */
export function ksStatisticSorted(a: Float64Array, b: Float64Array): number {
  const n1 = a.length;
  const n2 = b.length;
  let i = 0;
  let j = 0;
  let d = 0;
  while (i < n1 || j < n2) {
    const v = j >= n2 || (i < n1 && a[i] <= b[j]) ? a[i] : b[j];
    while (i < n1 && a[i] <= v) i++;
    while (j < n2 && b[j] <= v) j++;
    const diff = Math.abs(i / n1 - j / n2);
    if (diff > d) d = diff;
  }
  return d;
}

/**
 * Two-sided p-value for statistic `d` from samples of sizes n1, n2, as SciPy's `ks_2samp`: the exact lattice-path
 * probability (statistic snapped to a multiple of 1/lcm) or `kstwo.sf(d, round(n1·n2/(n1+n2)))`.
 */
export function ksPValue(d: number, n1: number, n2: number, method: KsMethod = 'auto'): KsResult {
  let mode: 'exact' | 'asymp' = method === 'auto' ? (Math.max(n1, n2) <= MAX_AUTO_N ? 'exact' : 'asymp') : method;
  const g = gcd(n1, n2);
  if (mode === 'exact' && n1 / g >= 2147483647 / (n2 / g)) mode = 'asymp';
  if (mode === 'exact') {
    const lcm = (n1 / g) * n2;
    const h = roundHalfEven(d * lcm);
    const snapped = h / lcm;
    if (h === 0) return { statistic: snapped, pValue: 1, method: 'exact' };
    const p = n1 === n2 ? probOutsideSquare(n1, h) : probOutsideBand(n1, n2, g, h);
    // SciPy falls back to the asymptotic form when the exact count over- or underflows.
    if (Number.isFinite(p) && p >= 0 && p <= 1) return { statistic: snapped, pValue: p, method: 'exact' };
    d = snapped;
  }
  const [m, n] = n1 >= n2 ? [n1, n2] : [n2, n1];
  const en = (m * n) / (m + n);
  const p = kolmogorovNSf(roundHalfEven(en), d);
  return { statistic: d, pValue: Math.min(1, Math.max(0, p)), method: 'asymp' };
}

/**
 * Two-sided two-sample Kolmogorov–Smirnov test on raw samples, matching `scipy.stats.ks_2samp(a, b, method=…)`.
 * Sorts copies; O((n1 + n2) log) plus the p-value (exact: O(n1·n2) worst case, so `auto` caps it at 10 000 rows).
 */
export function ksTwoSample(reference: Numbers, current: Numbers, method: KsMethod = 'auto'): KsResult {
  assertNonEmpty('reference', reference);
  assertNonEmpty('current', current);
  assertFinite('reference', reference);
  assertFinite('current', current);
  if (method !== 'auto' && method !== 'exact' && method !== 'asymp') {
    throw new StatsInputError('invalid-argument', `unknown KS method ${String(method)}`);
  }
  const d = ksStatisticSorted(sortedCopy(reference), sortedCopy(current));
  return ksPValue(d, reference.length, current.length, method);
}
