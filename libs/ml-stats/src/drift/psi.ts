import { StatsInputError } from '../errors';
import { upperBound } from '../internal/numeric';
import { assertFinite, assertNonEmpty, assertSameLength, sortedCopy, type Numbers } from '../internal/validate';

/**
 * Evidently's treatment of empty bins (`get_binned_data(..., feel_zeroes=True)`): zeros in a distribution are
 * replaced by min(non-zero)/10⁶ when that minimum is ≤ 1e-4, otherwise by 1e-4. Done per distribution, on a copy.
 */
export function fillZeroesLikeEvidently(proportions: Numbers): Float64Array {
  const out = Float64Array.from(proportions);
  let min = Infinity;
  for (const p of out) if (p !== 0 && p < min) min = p;
  if (min === Infinity) throw new StatsInputError('empty', 'distribution has no non-zero bin');
  const fill = min <= 0.0001 ? min / 1e6 : 0.0001;
  for (let i = 0; i < out.length; i++) if (out[i] === 0) out[i] = fill;
  return out;
}

/**
 * Population Stability Index Σ (r − c)·ln(r / c) over matching bins of two proportion vectors, with Evidently's
 * empty-bin filling, so `psi(ref, cur)` equals Evidently's `_psi` given the same binned percentages.
 */
export function psi(referenceProportions: Numbers, currentProportions: Numbers): number {
  assertSameLength(['referenceProportions', 'currentProportions'], [referenceProportions, currentProportions]);
  assertNonEmpty('referenceProportions', referenceProportions);
  assertFinite('referenceProportions', referenceProportions);
  assertFinite('currentProportions', currentProportions);
  const r = fillZeroesLikeEvidently(referenceProportions);
  const c = fillZeroesLikeEvidently(currentProportions);
  let sum = 0;
  for (let i = 0; i < r.length; i++) sum += (r[i] - c[i]) * Math.log(r[i] / c[i]);
  return sum;
}

/** Counts → proportions of their own total (Evidently divides bin counts by the window length). */
export function proportions(counts: Numbers): Float64Array {
  let total = 0;
  for (let i = 0; i < counts.length; i++) total += counts[i];
  if (!(total > 0)) throw new StatsInputError('empty', 'counts sum to 0');
  return Float64Array.from(counts, (c) => c / total);
}

/** PSI from bin counts of the two windows (any binning, as long as both use the same bins). */
export function psiFromCounts(referenceCounts: Numbers, currentCounts: Numbers): number {
  return psi(proportions(referenceCounts), proportions(currentCounts));
}

/**
 * numpy `histogram_bin_edges(values, bins='sturges')` for float64 data: ⌈range / (range / (log₂ n + 1))⌉ equal-width
 * bins over [min, max], edges as numpy's linspace computes them.
 */
export function sturgesEdges(sortedValues: Float64Array): Float64Array {
  const n = sortedValues.length;
  let first = sortedValues[0];
  let last = sortedValues[n - 1];
  const ptp = last - first;
  if (first === last) {
    first -= 0.5;
    last += 0.5;
  }
  const width = ptp / (Math.log2(n) + 1);
  const bins = width ? Math.ceil((last - first) / width) : 1;
  const step = (last - first) / bins;
  const edges = new Float64Array(bins + 1);
  for (let i = 0; i <= bins; i++) edges[i] = i * step + first;
  edges[bins] = last;
  return edges;
}

/** numpy `histogram(values, edges)`: bins [eᵢ, eᵢ₊₁), the last one closed; values outside are dropped. */
export function histogramCounts(values: Numbers, edges: Float64Array): Float64Array {
  const bins = edges.length - 1;
  const counts = new Float64Array(bins);
  const lo = edges[0];
  const hi = edges[bins];
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v < lo || v > hi) continue;
    counts[Math.min(upperBound(edges, v) - 1, bins - 1)]++;
  }
  return counts;
}

/** Whether Evidently bins a column as numeric: a numeric column with more than 20 distinct reference values. */
export function binsAsNumeric(reference: Numbers): boolean {
  const seen = new Set<number>();
  for (let i = 0; i < reference.length && seen.size <= 20; i++) seen.add(reference[i]);
  return seen.size > 20;
}

/** Binned proportions of two raw numeric samples as Evidently builds them (Sturges bins over both windows combined). */
export function evidentlyNumericBins(
  reference: Numbers,
  current: Numbers,
): { reference: Float64Array; current: Float64Array } {
  const combined = new Float64Array(reference.length + current.length);
  combined.set(Array.from(reference));
  combined.set(Array.from(current), reference.length);
  const edges = sturgesEdges(combined.sort());
  return {
    reference: Float64Array.from(histogramCounts(reference, edges), (c) => c / reference.length),
    current: Float64Array.from(histogramCounts(current, edges), (c) => c / current.length),
  };
}

/** Proportions of each category (union of both windows' values) in each window, keys sorted. */
export function categoricalProportions<K extends string | number>(
  reference: ArrayLike<K>,
  current: ArrayLike<K>,
): { keys: K[]; reference: Float64Array; current: Float64Array } {
  const rc = new Map<K, number>();
  const cc = new Map<K, number>();
  for (let i = 0; i < reference.length; i++) rc.set(reference[i], (rc.get(reference[i]) ?? 0) + 1);
  for (let i = 0; i < current.length; i++) cc.set(current[i], (cc.get(current[i]) ?? 0) + 1);
  const keys = [...new Set([...rc.keys(), ...cc.keys()])].sort();
  return {
    keys,
    reference: Float64Array.from(keys, (k) => (rc.get(k) ?? 0) / reference.length),
    current: Float64Array.from(keys, (k) => (cc.get(k) ?? 0) / current.length),
  };
}

/**
 * PSI on two raw windows exactly as Evidently's `psi` stat test computes it: numeric columns with > 20 distinct
 * reference values use Sturges equal-width bins over both windows combined; other columns (and all `categorical`
 * ones) use one bin per value. Finite values only: drop missing values first, as Evidently does.
 */
export function psiEvidently(
  reference: Numbers | ArrayLike<string>,
  current: Numbers | ArrayLike<string>,
  kind: 'numeric' | 'categorical',
): number {
  assertNonEmpty('reference', reference);
  assertNonEmpty('current', current);
  if (kind === 'numeric') {
    const ref = reference as Numbers;
    const cur = current as Numbers;
    assertFinite('reference', ref);
    assertFinite('current', cur);
    if (binsAsNumeric(ref)) {
      const bins = evidentlyNumericBins(ref, cur);
      return psi(bins.reference, bins.current);
    }
  }
  const bins = categoricalProportions(reference as ArrayLike<string | number>, current as ArrayLike<string | number>);
  return psi(bins.reference, bins.current);
}

/** Reference-quantile interior edges for PSI binning (the classic PSI binning, equal-mass reference bins). */
export function quantileEdges(reference: Numbers, bins: number): Float64Array {
  assertNonEmpty('reference', reference);
  assertFinite('reference', reference);
  const sorted = sortedCopy(reference);
  const edges: number[] = [];
  for (let k = 1; k < bins; k++) {
    // Linear interpolation between order statistics (numpy's default quantile method).
    const pos = (k / bins) * (sorted.length - 1);
    const lo = Math.floor(pos);
    const v = sorted[lo] + (pos - lo) * ((sorted[Math.min(lo + 1, sorted.length - 1)] ?? sorted[lo]) - sorted[lo]);
    if (edges.length === 0 || v > edges[edges.length - 1]) edges.push(v);
  }
  return Float64Array.from(edges);
}
