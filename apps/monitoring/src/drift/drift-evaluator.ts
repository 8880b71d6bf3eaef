import { type DriftSpec, type DriftStatisticName, type Scalar } from '@keel/contracts';
import {
  CategoricalSummary,
  type CategoricalSummaryJson,
  type ColumnKind,
  columnDriftReport,
  type DriftTestChoice,
  NumericSummary,
  type NumericSummaryJson,
  poolRareCategories,
} from '@keel/ml-stats';
import { type FeatureReference } from '@keel/model-package';

/** Drift statistics of one feature (or model output) in one window. */
export interface FeatureDriftReport {
  feature: string;
  kind: 'numeric' | 'categorical';
  /** The test that judged it (the spec's choice, or the default for its kind and sample size)… */
  statistic: DriftStatisticName;
  /** …its value (a distance, or a p-value for ks and chi2)… */
  value: number;
  /** …and its threshold. */
  threshold: number;
  /** PSI over the reference's bins (quantile bins for numeric features, categories for categorical ones). */
  psi: number;
  /** Jensen–Shannon distance (base e) over the same bins. */
  jensenShannon: number;
  /** KS p-value (numeric) or chi-square p-value (categorical). */
  pValue: number;
  /** Non-missing values of the feature in the window. */
  currentCount: number;
  /** The test's verdict. */
  drifted: boolean;
}

/** A model output of a window against the version's first window (output summaries carry no reference bins). */
export type PredictionDriftReport = Omit<FeatureDriftReport, 'psi' | 'jensenShannon'> &
  Partial<Pick<FeatureDriftReport, 'psi' | 'jensenShannon'>>;

/** Features of a window compared against the package's reference. */
export interface WindowDrift {
  features: FeatureDriftReport[];
  /** Model outputs compared with the version's first window (absent: the version's first window, or disabled). */
  predictions?: PredictionDriftReport[];
  /** Any feature or output drifted. */
  drifted: boolean;
  /**
   * Features with nothing to compare: no non-missing value in the window, or (categorical) every category rare in
   * both the window and the reference, so too few rows to compare them.
   */
  skipped: string[];
}

/**
 * How a pipeline's windows are judged (its spec's `monitoring`): per feature, the named test, else the test for its
 * kind, else PSI at `psiThreshold` when that is set, else the default for its kind and sample size.
 */
export interface DriftTests {
  psiThreshold?: number;
  drift?: Pick<Partial<DriftSpec>, 'numeric' | 'categorical' | 'features'>;
}

/** The test a feature of `kind` gets under `tests` (undefined: the default for its sample size). */
export function driftTestFor(feature: string, kind: ColumnKind, tests: DriftTests): DriftTestChoice | undefined {
  return (
    tests.drift?.features?.[feature] ??
    tests.drift?.[kind] ??
    (tests.psiThreshold === undefined ? undefined : { statistic: 'psi', threshold: tests.psiThreshold })
  );
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
  tests: DriftTests,
): WindowDrift {
  return evaluateSummaries(reference, addRows(emptySummaries(reference), rows), tests);
}

/**
 * Compares a window's accumulated summaries with the training reference, feature by feature (sorted by name). A
 * reference feature the window has no summary or no non-missing value for is skipped.
 */
export function evaluateSummaries(
  reference: Readonly<Record<string, FeatureReference>>,
  summaries: WindowSummaries,
  tests: DriftTests,
): WindowDrift {
  const features: FeatureDriftReport[] = [];
  const skipped: string[] = [];
  for (const [feature, ref] of Object.entries(reference).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const report = compareFeature(feature, ref, summaries.get(feature), tests);
    if (report) features.push(report);
    else skipped.push(feature);
  }
  return { features, drifted: features.some((feature) => feature.drifted), skipped };
}

/**
 * A reference feature's summary, parsed once per reference object: every window of a version is compared with the
 * same reference (and a batch of windows crosses to the worker as one message, sharing it), so its sketch is parsed
 * and sorted once rather than per window. Never mutated by the comparison.
 */
const parsedReferences = new WeakMap<FeatureReference['summary'], NumericSummary | CategoricalSummary>();

function referenceSummary(ref: FeatureReference): NumericSummary | CategoricalSummary {
  let parsed = parsedReferences.get(ref.summary);
  if (!parsed) {
    parsed = ref.kind === 'numeric' ? NumericSummary.fromJSON(ref.summary) : CategoricalSummary.fromJSON(ref.summary);
    parsedReferences.set(ref.summary, parsed);
  }
  return parsed;
}

/** One feature against its reference; undefined when the window or the reference has no non-missing value. */
function compareFeature(
  feature: string,
  ref: FeatureReference,
  current: NumericSummary | CategoricalSummary | undefined,
  tests: DriftTests,
): FeatureDriftReport | undefined {
  if (ref.kind === 'numeric') {
    if (!(current instanceof NumericSummary) || current.count === 0) return undefined;
    const reference = referenceSummary(ref);
    if (!(reference instanceof NumericSummary) || reference.count === 0) return undefined;
    return compareSummaries(feature, reference, current, driftTestFor(feature, 'numeric', tests));
  }
  if (!(current instanceof CategoricalSummary) || current.count === 0) return undefined;
  const fullReference = referenceSummary(ref);
  if (!(fullReference instanceof CategoricalSummary) || fullReference.count === 0) return undefined;
  // Undefined when every category is rare in both (the window is too small to compare them): skipped, not "no drift".
  const pooled = poolRareCategories(fullReference, current);
  if (!pooled) return undefined;
  return compareSummaries(feature, pooled.reference, pooled.current, driftTestFor(feature, 'categorical', tests));
}

/**
 * A column's line of the report: the chosen test's value and verdict, with PSI, Jensen–Shannon and the kind's test
 * p-value (KS or chi-square) beside it, each computed once by its declaration in @keel/ml-stats.
 */
export function compareSummaries(
  feature: string,
  reference: NumericSummary | CategoricalSummary,
  current: NumericSummary | CategoricalSummary,
  choice: DriftTestChoice | undefined,
): FeatureDriftReport {
  return { feature, ...columnDriftReport(reference, current, choice) };
}

// Rare-category pooling is shared with validation's shift checks: one implementation, in @keel/ml-stats.
export { MIN_EXPECTED_COUNT, OTHER_CATEGORY, poolRareCategories } from '@keel/ml-stats';

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

/** Output summaries of a window as the stream keeps them (`[name, summary JSON]` pairs). */
export function outputSummariesFromJson(text: string): Map<string, NumericSummary | CategoricalSummary> {
  return summariesFromJson(text);
}

/**
 * Prediction drift: each model output of a window against the same output over the version's first window. Numeric
 * outputs are judged by KS or the normed Wasserstein distance (their summaries have no reference bins), categorical
 * ones by any categorical test; the spec's choice for the kind, else the default for the sample size.
 */
export function evaluatePredictions(
  outputsJson: string,
  baselineJson: string,
  choices: { numeric?: DriftTestChoice; categorical?: DriftTestChoice } = {},
): PredictionDriftReport[] {
  const current = outputSummariesFromJson(outputsJson);
  const baseline = outputSummariesFromJson(baselineJson);
  const reports: PredictionDriftReport[] = [];
  for (const [name, summary] of [...current].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const reference = baseline.get(name);
    if (!reference || reference.count === 0 || summary.count === 0) continue;
    if (summary instanceof NumericSummary && reference instanceof NumericSummary) {
      const { psi: _psi, jensenShannon: _js, ...report } = compareSummaries(name, reference, summary, choices.numeric);
      reports.push(report);
    } else if (summary instanceof CategoricalSummary && reference instanceof CategoricalSummary) {
      const pooled = poolRareCategories(reference, summary);
      if (!pooled) continue; // Every category rare in both windows: nothing measurable.
      reports.push(compareSummaries(name, pooled.reference, pooled.current, choices.categorical));
    }
  }
  return reports;
}
