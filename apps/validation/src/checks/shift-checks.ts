import { isFeatureTable, type PipelineSpec, type ShiftAction, type ShiftTest } from '@keel/contracts';
import { type DatasetColumn, type DatasetTable } from '@keel/datasets';
import {
  CategoricalSummary,
  type CategoricalSummaryJson,
  type ColumnDriftReport,
  columnDriftReport,
  type ColumnKind,
  DRIFT_STATISTIC,
  isDrift,
  MIN_EXPECTED_COUNT,
  NumericSummary,
  type NumericSummaryJson,
  poolRareCategories,
} from '@keel/ml-stats';
import { type Finding, MAX_REFERENCE_CATEGORIES } from './validation-checks';

/** Quantile bins of a numeric column's summary: ten, as in the training reference monitoring judges traffic by. */
export const SHIFT_BINS = 10;

/** The two baselines a version is compared with. */
export type ShiftBaselineKind = 'reference' | 'previous';

/** A column's summary in a version's stored summaries (a list: column names are values, never keys). */
export type ColumnSummaryJson =
  | { name: string; kind: 'numeric'; summary: NumericSummaryJson }
  | { name: string; kind: 'categorical'; summary: CategoricalSummaryJson };

/**
 * Per-column summaries of one dataset version (its features and target), stored beside its report so that later
 * versions are compared with it without reading its rows again. Numeric columns carry their own decile edges.
 */
export interface VersionSummaries {
  version: 1;
  columns: ColumnSummaryJson[];
  /** Columns without a summary, and why (absent, mistyped, no values, too many categories). */
  skipped: { column: string; reason: string }[];
}

/** A baseline version and its summaries, as the service loaded them. */
export interface ShiftBaseline {
  against: ShiftBaselineKind;
  datasetVersionId: string;
  summaries: VersionSummaries;
}

/** One column of a version against one baseline: the test's numbers and, when the spec declares shift, its action. */
export interface ColumnShift extends ColumnDriftReport {
  column: string;
  /** Non-missing values of the baseline's column. */
  referenceCount: number;
  /** What a shift of this column does under the spec; absent when the spec declares no `validation.shift`. */
  action?: ShiftAction;
  /**
   * Bonferroni: the p-value tests judged against this baseline (more than one), the declared threshold divided by it
   * to give `threshold`; absent for distances and when nothing judges the column.
   */
  testedColumns?: number;
}

/** A version against one baseline. */
export interface BaselineShift {
  against: ShiftBaselineKind;
  datasetVersionId: string;
  columns: ColumnShift[];
  skipped: { column: string; reason: string }[];
}

/** Features and the target: what shift is measured on (the time column always moves; ids are not distributions). */
export function shiftColumns(spec: PipelineSpec): { name: string; kind: ColumnKind }[] {
  return [
    ...spec.features.map((feature) => ({ name: feature.name, kind: feature.type })),
    // A feature table has no target.
    ...(isFeatureTable(spec)
      ? []
      : [{ name: spec.target.column, kind: spec.task === 'regression' ? 'numeric' : 'categorical' } as const]),
  ];
}

/**
 * Why a feature a point-in-time join takes (from another pipeline's table, as of each training row's time) is not
 * measured here: it is not a column of this pipeline's dataset versions by design. Its table pipeline's own
 * validation measures the shift of its versions.
 */
function joinedReasons(spec: PipelineSpec): Map<string, string> {
  const reasons = new Map<string, string>();
  for (const join of isFeatureTable(spec) ? [] : (spec.joins ?? [])) {
    for (const name of join.features) {
      reasons.set(name, `joined from "${join.pipeline}" at training (point-in-time), not a column of the version`);
    }
  }
  return reasons;
}

function fitsKind(column: DatasetColumn, kind: ColumnKind): boolean {
  return kind === 'numeric' ? column.type === 'number' || column.type === 'integer' : column.type === 'string';
}

/**
 * A column's finite numbers, packed (8 bytes a value, where an array of boxed numbers and nulls costs two to three
 * times that beside the table's own column), and how many values are missing: null and non-finite values, as
 * monitoring counts them.
 */
function finiteNumbers(values: DatasetColumn['values']): { finite: Float64Array; missing: number } {
  let count = 0;
  for (const value of values) if (typeof value === 'number' && Number.isFinite(value)) count++;
  const finite = new Float64Array(count);
  let at = 0;
  for (const value of values) if (typeof value === 'number' && Number.isFinite(value)) finite[at++] = value;
  return { finite, missing: values.length - count };
}

function strings(values: DatasetColumn['values']): (string | null)[] {
  return values.map((value) => (value === null ? null : String(value)));
}

/** The column of `table` a shift column is measured on, or why there is none. */
function shiftColumn(table: DatasetTable, name: string, kind: ColumnKind): DatasetColumn | string {
  const column = table.columns.find((c) => c.name === name);
  if (!column) return 'absent';
  if (!fitsKind(column, kind)) return `${column.type}, not ${kind}`;
  return column;
}

/** A shift column of a version, summarised once for its stored summaries and every comparison. */
export type ColumnSample =
  /** `values`: the column's finite numbers only, to count into each baseline's bins. */
  | { name: string; kind: 'numeric'; summary: NumericSummary; values: Float64Array }
  | { name: string; kind: 'categorical'; summary: CategoricalSummary };

/** A version's shift columns, summarised, and those that could not be, with the reason. */
export interface VersionSample {
  columns: ColumnSample[];
  skipped: { column: string; reason: string }[];
}

/**
 * Summaries of a version's features and target: numeric columns over their own deciles with a KLL sketch (as the
 * training reference builds them), categorical columns as counts. A column with more than MAX_REFERENCE_CATEGORIES
 * distinct values is an identifier, not a distribution: skipped, as the unseen-category check skips it.
 */
export function sampleVersion(spec: PipelineSpec, table: DatasetTable): VersionSample {
  const sample: VersionSample = { columns: [], skipped: [] };
  const joined = joinedReasons(spec);
  for (const { name, kind } of shiftColumns(spec)) {
    const joinedFrom = joined.get(name);
    if (joinedFrom) {
      sample.skipped.push({ column: name, reason: joinedFrom });
      continue;
    }
    const column = shiftColumn(table, name, kind);
    if (typeof column === 'string') {
      sample.skipped.push({ column: name, reason: column });
      continue;
    }
    if (kind === 'numeric') {
      const { finite: values, missing } = finiteNumbers(column.values);
      if (values.length === 0) {
        sample.skipped.push({ column: name, reason: 'no values' });
        continue;
      }
      const summary = NumericSummary.fromReference(values, SHIFT_BINS);
      summary.addMissing(missing);
      sample.columns.push({ name, kind, summary, values });
    } else {
      const summary = new CategoricalSummary().addAll(strings(column.values));
      if (summary.count === 0) sample.skipped.push({ column: name, reason: 'no values' });
      else if (summary.counts.size > MAX_REFERENCE_CATEGORIES) {
        sample.skipped.push({ column: name, reason: `more than ${MAX_REFERENCE_CATEGORIES} categories` });
      } else sample.columns.push({ name, kind, summary });
    }
  }
  return sample;
}

/** The stored (JSON) form of a version's sample. */
export function versionSummaries(sample: VersionSample): VersionSummaries {
  return {
    version: 1,
    columns: sample.columns.map((column): ColumnSummaryJson =>
      column.kind === 'numeric'
        ? { name: column.name, kind: column.kind, summary: column.summary.toJSON() }
        : { name: column.name, kind: column.kind, summary: column.summary.toJSON() },
    ),
    skipped: sample.skipped,
  };
}

/** {@link versionSummaries} of {@link sampleVersion}. */
export function summarizeVersion(spec: PipelineSpec, table: DatasetTable): VersionSummaries {
  return versionSummaries(sampleVersion(spec, table));
}

/**
 * The test a column gets under the spec: the statistic and threshold of its own test if that names a statistic, else
 * its kind's; the action of its own test, else its kind's (else, in measureShift, the spec's). Undefined: no shift
 * declared, so the default rule measures it and nothing judges it.
 */
export function shiftTestFor(spec: PipelineSpec, column: string, kind: ColumnKind): ShiftTest | undefined {
  const shift = spec.validation.shift;
  if (!shift) return undefined;
  const own = shift.columns[column];
  const byKind = shift[kind];
  const measuredBy = own?.statistic ? own : byKind?.statistic ? byKind : undefined;
  const action = own?.action ?? byKind?.action;
  return {
    ...(measuredBy ? { statistic: measuredBy.statistic, threshold: measuredBy.threshold } : {}),
    ...(action ? { action } : {}),
  };
}

/**
 * A version against a baseline's summaries, column by column in the spec's order: the current values binned on the
 * baseline's edges (so PSI compares like with like), rare and new categories pooled as monitoring pools them, then
 * the chosen statistic (or Evidently's default for the kind and sample size) with PSI, Jensen-Shannon and the kind's
 * p-value beside it. Pure.
 */
export function measureShift(spec: PipelineSpec, sample: VersionSample, baseline: ShiftBaseline): BaselineShift {
  const result: BaselineShift = {
    against: baseline.against,
    datasetVersionId: baseline.datasetVersionId,
    columns: [],
    skipped: [],
  };
  const declared = spec.validation.shift;
  const joined = joinedReasons(spec);
  for (const { name, kind } of shiftColumns(spec)) {
    const skip = (reason: string) => result.skipped.push({ column: name, reason });
    const joinedFrom = joined.get(name);
    if (joinedFrom) {
      skip(joinedFrom);
      continue;
    }
    const stored = baseline.summaries.columns.find((c) => c.name === name);
    if (!stored || stored.kind !== kind) {
      skip(`no ${kind} summary in the ${baseline.against} version`);
      continue;
    }
    const column = sample.columns.find((c) => c.name === name);
    if (!column) {
      skip(sample.skipped.find((s) => s.column === name)?.reason ?? 'absent');
      continue;
    }
    let reference: NumericSummary | CategoricalSummary;
    let current: NumericSummary | CategoricalSummary;
    if (stored.kind === 'numeric' && column.kind === 'numeric') {
      reference = NumericSummary.fromJSON(stored.summary);
      if (stored.summary.sketch.k === column.summary.sketch.k) {
        current = column.summary.rebin(reference.edges, column.values);
      } else {
        const resketched = new NumericSummary(reference.edges, { sketchK: stored.summary.sketch.k });
        resketched.addAll(column.values).addMissing(column.summary.missing);
        current = resketched;
      }
    } else if (stored.kind === 'categorical' && column.kind === 'categorical') {
      const pooled = poolRareCategories(CategoricalSummary.fromJSON(stored.summary), column.summary);
      if (!pooled) {
        skip(`not measurable: every category has under ${MIN_EXPECTED_COUNT} rows expected in both versions`);
        continue;
      }
      ({ reference, current } = pooled);
    } else continue; // Both kinds are the spec's, checked above.
    if (reference.count === 0) {
      skip('no values in the baseline');
      continue;
    }
    const test = shiftTestFor(spec, name, kind);
    const choice = test?.statistic ? { statistic: test.statistic, threshold: test.threshold } : undefined;
    result.columns.push({
      column: name,
      ...columnDriftReport(reference, current, choice),
      referenceCount: reference.count,
      ...(declared ? { action: test?.action ?? declared.action } : {}),
    });
  }
  if (declared) result.columns = bonferroni(result.columns);
  return result;
}

/**
 * The p-value tests a spec judges against one baseline, each at its threshold divided by their number (Bonferroni),
 * so the chance that any column of a version like its baseline is flagged stays at the threshold: uncorrected, 20
 * columns at p < 0.05 flag about 64 % of such versions (87 % against both baselines). Distances are not corrected.
 */
function bonferroni(columns: ColumnShift[]): ColumnShift[] {
  const judged = (column: ColumnShift) =>
    DRIFT_STATISTIC[column.statistic].scale === 'p-value' && column.action !== undefined && column.action !== 'ignore';
  const tested = columns.filter(judged).length;
  if (tested < 2) return columns;
  return columns.map((column) => {
    if (!judged(column)) return column;
    const threshold = column.threshold / tested;
    return { ...column, threshold, drifted: isDrift(column.statistic, column.value, threshold), testedColumns: tested };
  });
}

function formatNumber(value: number): string {
  return value === 0 || (Math.abs(value) >= 1e-4 && Math.abs(value) < 1e6)
    ? String(Number(value.toPrecision(4)))
    : value.toExponential(3);
}

/** A shifted column judged by the spec: what it names and does. */
export interface JudgedShift {
  column: string;
  against: ShiftBaselineKind;
  datasetVersionId: string;
  statistic: ColumnShift['statistic'];
  value: number;
  threshold: number;
  action: 'warn' | 'reject';
  /** The p-value tests the threshold was divided among (Bonferroni); absent when uncorrected. */
  testedColumns?: number;
}

/** Columns past their threshold against the baselines the spec names, whose action is not `ignore`. */
export function judgeShift(spec: PipelineSpec, shifts: readonly BaselineShift[]): JudgedShift[] {
  const declared = spec.validation.shift;
  if (!declared) return [];
  const judged: JudgedShift[] = [];
  for (const shift of shifts) {
    if (declared.against !== 'both' && declared.against !== shift.against) continue;
    for (const column of shift.columns) {
      if (!column.drifted || column.action === undefined || column.action === 'ignore') continue;
      judged.push({
        column: column.column,
        against: shift.against,
        datasetVersionId: shift.datasetVersionId,
        statistic: column.statistic,
        value: column.value,
        threshold: column.threshold,
        action: column.action,
        ...(column.testedColumns ? { testedColumns: column.testedColumns } : {}),
      });
    }
  }
  return judged;
}

/**
 * A finding per judged shift, naming the column, the baseline, the statistic, its value and the threshold: an error
 * (the version is rejected) when the action is reject, else a warning.
 */
export function shiftFindings(judged: readonly JudgedShift[]): Finding[] {
  return judged.map((shift) => {
    const past = DRIFT_STATISTIC[shift.statistic].scale === 'p-value' ? 'below' : 'at or above';
    return {
      check: 'distribution-shift',
      column: shift.column,
      severity: shift.action === 'reject' ? 'error' : 'warning',
      message:
        `${shift.column} shifted against the ${shift.against} version ${shift.datasetVersionId}: ` +
        `${shift.statistic} ${formatNumber(shift.value)}, ${past} the ${shift.action} threshold ` +
        (shift.testedColumns
          ? `${formatNumber(shift.threshold)} (${formatNumber(shift.threshold * shift.testedColumns)} over ` +
            `${shift.testedColumns} columns, Bonferroni)`
          : `${shift.threshold}`),
    };
  });
}
