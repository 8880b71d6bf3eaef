import { type Scalar } from '@keel/contracts';
import {
  CategoricalSummary,
  type CategoricalSummaryJson,
  compareCategorical,
  compareNumeric,
  NumericSummary,
  type NumericSummaryJson,
} from '@keel/ml-stats';
import { type FeatureReference } from '@keel/model-package';

/** Drift statistics of one feature in one window. */
export interface FeatureDriftReport {
  feature: string;
  kind: 'numeric' | 'categorical';
  /** PSI over the reference's bins (quantile bins for numeric features, categories for categorical ones). */
  psi: number;
  /** Jensen–Shannon distance (base e) over the same bins. */
  jensenShannon: number;
  /** KS p-value (numeric) or chi-square p-value (categorical). */
  pValue: number;
  /** Non-missing values of the feature in the window. */
  currentCount: number;
  /** PSI ≥ the pipeline's psiThreshold. */
  drifted: boolean;
}

/** Features of a window compared against the package's reference. */
export interface WindowDrift {
  features: FeatureDriftReport[];
  drifted: boolean;
  /** Features the window had no non-missing value for (nothing to compare). */
  skipped: string[];
}

/** Mergeable summaries of one window's inputs, one per reference feature (same bins as the reference). */
export type WindowSummaries = Map<string, NumericSummary | CategoricalSummary>;

/** Empty summaries for a window: numeric features on the reference's bin edges and sketch size, so PSI compares like with like. */
export function emptySummaries(reference: Readonly<Record<string, FeatureReference>>): WindowSummaries {
  const summaries: WindowSummaries = new Map();
  for (const [feature, ref] of Object.entries(reference)) {
    summaries.set(
      feature,
      ref.kind === 'numeric'
        ? new NumericSummary(ref.summary.edges, { sketchK: ref.summary.sketch.k })
        : new CategoricalSummary(),
    );
  }
  return summaries;
}

/** Adds served inputs to a window's summaries; missing or unparsable values count as missing. */
export function addRows(
  summaries: WindowSummaries,
  rows: readonly Readonly<Record<string, Scalar | undefined>>[],
): WindowSummaries {
  for (const [feature, summary] of summaries) {
    if (summary instanceof NumericSummary) for (const row of rows) summary.add(toNumber(row[feature]));
    else for (const row of rows) summary.add(toCategory(row[feature]));
  }
  return summaries;
}

/** JSON text of a window's summaries (feature names are free-form, so they must not become Mongo keys). */
export function summariesToJson(summaries: WindowSummaries): string {
  return JSON.stringify([...summaries].map(([feature, summary]) => [feature, summary.toJSON()]));
}

export function summariesFromJson(text: string): WindowSummaries {
  const entries = JSON.parse(text) as [string, NumericSummaryJson | CategoricalSummaryJson][];
  return new Map(
    entries.map(([feature, json]) => [
      feature,
      json.kind === 'numeric' ? NumericSummary.fromJSON(json) : CategoricalSummary.fromJSON(json),
    ]),
  );
}

/**
 * Compares a window of served inputs with the training reference, feature by feature. Current summaries reuse the
 * reference's bin edges, so PSI compares like with like; missing or unparsable values count as missing.
 */
export function evaluateWindow(
  reference: Readonly<Record<string, FeatureReference>>,
  rows: readonly Readonly<Record<string, Scalar | undefined>>[],
  psiThreshold: number,
): WindowDrift {
  return evaluateSummaries(reference, addRows(emptySummaries(reference), rows), psiThreshold);
}

/**
 * Compares a window's accumulated summaries with the training reference, feature by feature (sorted by name). A
 * reference feature the window has no summary or no non-missing value for is skipped.
 */
export function evaluateSummaries(
  reference: Readonly<Record<string, FeatureReference>>,
  summaries: WindowSummaries,
  psiThreshold: number,
): WindowDrift {
  const features: FeatureDriftReport[] = [];
  const skipped: string[] = [];
  for (const [feature, ref] of Object.entries(reference).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const report = compareFeature(feature, ref, summaries.get(feature), psiThreshold);
    if (report) features.push(report);
    else skipped.push(feature);
  }
  return { features, drifted: features.some((feature) => feature.drifted), skipped };
}

/** One feature against its reference; undefined when the window or the reference has no non-missing value. */
function compareFeature(
  feature: string,
  ref: FeatureReference,
  current: NumericSummary | CategoricalSummary | undefined,
  psiThreshold: number,
): FeatureDriftReport | undefined {
  if (ref.kind === 'numeric') {
    if (!(current instanceof NumericSummary) || current.count === 0) return undefined;
    const reference = NumericSummary.fromJSON(ref.summary);
    if (reference.count === 0) return undefined;
    const drift = compareNumeric(reference, current, { psi: psiThreshold });
    return featureReport(feature, 'numeric', drift, drift.ks.pValue, current.count);
  }
  if (!(current instanceof CategoricalSummary) || current.count === 0) return undefined;
  const fullReference = CategoricalSummary.fromJSON(ref.summary);
  if (fullReference.count === 0) return undefined;
  const pooled = poolRareCategories(fullReference, current);
  const drift = compareCategorical(pooled.reference, pooled.current, { psi: psiThreshold });
  return featureReport(feature, 'categorical', drift, drift.chiSquare.pValue, pooled.current.count);
}

/** A feature's line of the report; drift is judged by PSI alone, the p-value is reported beside it. */
function featureReport(
  feature: string,
  kind: FeatureDriftReport['kind'],
  drift: { psi: number; jensenShannon: number; drifted: { psi: boolean } },
  pValue: number,
  currentCount: number,
): FeatureDriftReport {
  return {
    feature,
    kind,
    psi: drift.psi,
    jensenShannon: drift.jensenShannon,
    pValue,
    currentCount,
    drifted: drift.drifted.psi,
  };
}

/** A window should expect at least this many rows in every category bin (the usual chi-square rule). */
export const MIN_EXPECTED_COUNT = 5;
/** The pooled bin; a control character, so no real category collides with it. */
export const OTHER_CATEGORY = '\u0000other';

/**
 * Pools categories the window would expect fewer than MIN_EXPECTED_COUNT rows of (by reference share), and
 * categories the reference never had, into one bin. Without it, sampling noise alone over dozens of rare categories
 * (Adult's native_country, ~40 of them, in a 200-row window) pushes PSI to the usual 0.2 threshold: most rare
 * categories are absent from any one window and each absent one adds (p − ε)·ln(p/ε) with ε = 1e-4.
 */
export function poolRareCategories(
  reference: CategoricalSummary,
  current: CategoricalSummary,
): { reference: CategoricalSummary; current: CategoricalSummary } {
  const minShare = MIN_EXPECTED_COUNT / current.count;
  const kept = new Set<string>();
  for (const [category, count] of reference.counts) if (count / reference.count >= minShare) kept.add(category);
  const pool = (summary: CategoricalSummary) => {
    const pooled = new CategoricalSummary();
    for (const [category, count] of summary.counts)
      pooled.addCount(kept.has(category) ? category : OTHER_CATEGORY, count);
    return pooled;
  };
  return { reference: pool(reference), current: pool(current) };
}

/** Numbers and numeric strings count; null, '', booleans and non-finite values are missing. */
export function toNumber(value: Scalar | undefined): number | null {
  if (value === null || value === undefined || value === '' || typeof value === 'boolean') return null;
  const number = typeof value === 'number' ? value : Number(value);
  return Number.isFinite(number) ? number : null;
}

/** Categories are compared as strings, as the reference was built; null and '' are missing. */
export function toCategory(value: Scalar | undefined): string | null {
  return value === null || value === undefined || value === '' ? null : String(value);
}
