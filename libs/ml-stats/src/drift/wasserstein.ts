import { assertFinite, assertNonEmpty, sortedCopy, type Numbers } from '../internal/validate';

/** ∫|F_a − F_b| of two ascending samples (the 1-D Wasserstein-1 / earth mover's distance). */
export function wassersteinSorted(a: Float64Array, b: Float64Array): number {
  const n1 = a.length;
  const n2 = b.length;
  let i = 0;
  let j = 0;
  let prev = Math.min(a[0], b[0]);
  let sum = 0;
  while (i < n1 || j < n2) {
    const v = j >= n2 || (i < n1 && a[i] <= b[j]) ? a[i] : b[j];
    sum += Math.abs(i / n1 - j / n2) * (v - prev);
    prev = v;
    while (i < n1 && a[i] <= v) i++;
    while (j < n2 && b[j] <= v) j++;
  }
  return sum;
}

/** `scipy.stats.wasserstein_distance(reference, current)` on raw samples (unweighted). */
export function wassersteinDistance(reference: Numbers, current: Numbers): number {
  assertNonEmpty('reference', reference);
  assertNonEmpty('current', current);
  assertFinite('reference', reference);
  assertFinite('current', current);
  return wassersteinSorted(sortedCopy(reference), sortedCopy(current));
}

/** Population standard deviation (numpy's default ddof = 0). */
export function populationStd(values: Numbers): number {
  let mean = 0;
  for (let i = 0; i < values.length; i++) mean += values[i];
  mean /= values.length;
  let ss = 0;
  for (let i = 0; i < values.length; i++) ss += (values[i] - mean) ** 2;
  return Math.sqrt(ss / values.length);
}

/**
 * Evidently's `wasserstein` drift score: Wasserstein distance divided by max(std(reference), 0.001), so it reads in
 * reference standard deviations (Evidently's default threshold is 0.1).
 */
export function wassersteinNormed(reference: Numbers, current: Numbers): number {
  const distance = wassersteinDistance(reference, current);
  return distance / Math.max(populationStd(reference), 0.001);
}
