import { chiSquareContingency, type ChiSquareResult } from '../drift/chi-square';
import { jensenShannonDistance } from '../drift/jensen-shannon';
import { ksPValue, type KsResult } from '../drift/ks';
import { psiFromCounts } from '../drift/psi';
import { StatsInputError } from '../errors';
import type { CategoricalSummary } from './categorical-summary';
import { weightedKsStatistic, weightedWasserstein } from './kll';
import type { NumericSummary } from './numeric-summary';

/** Drift thresholds; the defaults are Evidently's. */
export interface DriftThresholds {
  /** PSI at or above this is drift; default 0.1. */
  readonly psi?: number;
  /** A p-value below this is drift (KS, chi-square); default 0.05. */
  readonly pValue?: number;
  /** Jensen–Shannon distance (base e) at or above this is drift; default 0.1. */
  readonly jensenShannon?: number;
  /** Normed Wasserstein distance at or above this is drift; default 0.1. */
  readonly wassersteinNormed?: number;
}

/** All per-feature drift statistics of a numeric feature, from two summaries. */
export interface NumericDrift {
  readonly kind: 'numeric';
  readonly referenceCount: number;
  readonly currentCount: number;
  /** Missing share in the current window. */
  readonly currentMissingShare: number;
  /** PSI over the reference's bins, Evidently's empty-bin filling. */
  readonly psi: number;
  /** Jensen–Shannon distance (base e) over the same bins. */
  readonly jensenShannon: number;
  /** KS statistic from the two sketches; p-value from it and the true window sizes. */
  readonly ks: KsResult;
  /** Wasserstein-1 distance from the sketches, and divided by max(reference std, 0.001) (Evidently's normed form). */
  readonly wasserstein: number;
  readonly wassersteinNormed: number;
  readonly drifted: { psi: boolean; ks: boolean; jensenShannon: boolean; wasserstein: boolean };
}

/** All per-feature drift statistics of a categorical feature, from two summaries. */
export interface CategoricalDrift {
  readonly kind: 'categorical';
  readonly referenceCount: number;
  readonly currentCount: number;
  readonly currentMissingShare: number;
  readonly psi: number;
  readonly jensenShannon: number;
  /** chi2_contingency on the 2 × categories table (reference, current); handles categories new in current. */
  readonly chiSquare: ChiSquareResult;
  /** Categories seen in the current window but never in the reference. */
  readonly newCategories: string[];
  readonly drifted: { psi: boolean; chiSquare: boolean; jensenShannon: boolean };
}

function thresholds(t: DriftThresholds = {}): Required<DriftThresholds> {
  return {
    psi: t.psi ?? 0.1,
    pValue: t.pValue ?? 0.05,
    jensenShannon: t.jensenShannon ?? 0.1,
    wassersteinNormed: t.wassersteinNormed ?? 0.1,
  };
}

function requireData(name: string, count: number): void {
  if (count === 0) throw new StatsInputError('empty', `${name} window has no non-missing values`);
}

/**
 * Compares two numeric summaries (same bin edges). PSI and JS are exact for the bins; KS and Wasserstein come from
 * the sketches, with an error bounded by the sketches' rank error (see the README's measured figures).
 */
export function compareNumeric(
  reference: NumericSummary,
  current: NumericSummary,
  limits?: DriftThresholds,
): NumericDrift {
  requireData('reference', reference.count);
  requireData('current', current.count);
  if (reference.edges.length !== current.edges.length || reference.edges.some((e, i) => e !== current.edges[i])) {
    throw new StatsInputError('invalid-argument', 'reference and current summaries must share bin edges');
  }
  const t = thresholds(limits);
  const refItems = reference.sketch.weightedItems();
  const curItems = current.sketch.weightedItems();
  const ks = ksPValue(weightedKsStatistic(refItems, curItems), reference.count, current.count);
  const wasserstein = weightedWasserstein(refItems, curItems);
  const wassersteinNormed = wasserstein / Math.max(reference.std, 0.001);
  const psi = psiFromCounts(reference.binCounts, current.binCounts);
  const jensenShannon = jensenShannonDistance(reference.binCounts, current.binCounts);
  return {
    kind: 'numeric',
    referenceCount: reference.count,
    currentCount: current.count,
    currentMissingShare: current.missing / (current.missing + current.count),
    psi,
    jensenShannon,
    ks,
    wasserstein,
    wassersteinNormed,
    drifted: {
      psi: psi >= t.psi,
      ks: ks.pValue < t.pValue,
      jensenShannon: jensenShannon >= t.jensenShannon,
      wasserstein: wassersteinNormed >= t.wassersteinNormed,
    },
  };
}

/** Compares two categorical summaries over the union of their categories (all statistics exact). */
export function compareCategorical(
  reference: CategoricalSummary,
  current: CategoricalSummary,
  limits?: DriftThresholds,
): CategoricalDrift {
  requireData('reference', reference.count);
  requireData('current', current.count);
  const t = thresholds(limits);
  const keys = [...new Set([...reference.counts.keys(), ...current.counts.keys()])].sort();
  const ref = Float64Array.from(keys, (k) => reference.counts.get(k) ?? 0);
  const cur = Float64Array.from(keys, (k) => current.counts.get(k) ?? 0);
  const psi = psiFromCounts(ref, cur);
  const jensenShannon = jensenShannonDistance(ref, cur);
  const chiSquare = chiSquareContingency([ref, cur]);
  return {
    kind: 'categorical',
    referenceCount: reference.count,
    currentCount: current.count,
    currentMissingShare: current.missing / (current.missing + current.count),
    psi,
    jensenShannon,
    chiSquare,
    newCategories: keys.filter((k) => !reference.counts.has(k)),
    drifted: {
      psi: psi >= t.psi,
      chiSquare: chiSquare.pValue < t.pValue,
      jensenShannon: jensenShannon >= t.jensenShannon,
    },
  };
}
