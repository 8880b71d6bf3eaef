import { StatsInputError } from '../errors';
import { CategoricalSummary } from '../summary/categorical-summary';
import { weightedKsStatistic, weightedWasserstein } from '../summary/kll';
import { NumericSummary } from '../summary/numeric-summary';
import { chiSquareContingency } from './chi-square';
import { jensenShannonDistance } from './jensen-shannon';
import { ksPValue } from './ks';
import { psiFromCounts } from './psi';

/** The per-column drift statistics, by the names the pipeline spec and drift.detected use. */
export const DRIFT_STATISTICS = ['psi', 'ks', 'chi2', 'jensen-shannon', 'wasserstein'] as const;
export type DriftStatisticName = (typeof DRIFT_STATISTICS)[number];

export type ColumnKind = 'numeric' | 'categorical';
type Summary = NumericSummary | CategoricalSummary;

/**
 * One drift statistic, declared once: what it measures a column with, which way its threshold cuts, its default
 * threshold, and the field of a report that carries its value.
 */
export interface DriftStatistic {
  readonly name: DriftStatisticName;
  /** Column kinds it applies to. */
  readonly kinds: readonly ColumnKind[];
  /** `distance`: drift when value ≥ threshold; `p-value`: drift when value < threshold. */
  readonly scale: 'distance' | 'p-value';
  readonly defaultThreshold: number;
  /** The report field that holds the value (drift.detected carries it as `value`). */
  readonly reportField: 'psi' | 'ksPValue' | 'chiSquarePValue' | 'jensenShannon' | 'wassersteinNormed';
  /** The value for a reference and a current summary of the same kind (numeric ones on the same bin edges). */
  measure(reference: Summary, current: Summary): number;
}

/** Categorical counts over the union of both summaries' categories, in a fixed order. */
function categoricalCounts(reference: CategoricalSummary, current: CategoricalSummary): [Float64Array, Float64Array] {
  const keys = [...new Set([...reference.counts.keys(), ...current.counts.keys()])].sort();
  return [
    Float64Array.from(keys, (k) => reference.counts.get(k) ?? 0),
    Float64Array.from(keys, (k) => current.counts.get(k) ?? 0),
  ];
}

/** Bin counts (numeric, on the reference's edges) or category counts (categorical) of both summaries. */
function counts(reference: Summary, current: Summary): [Float64Array, Float64Array] {
  if (reference instanceof NumericSummary && current instanceof NumericSummary) {
    return [reference.binCounts, current.binCounts];
  }
  if (reference instanceof CategoricalSummary && current instanceof CategoricalSummary) {
    return categoricalCounts(reference, current);
  }
  throw new StatsInputError('invalid-argument', 'reference and current summaries must be of the same kind');
}

function numeric(reference: Summary, current: Summary, statistic: string): [NumericSummary, NumericSummary] {
  if (reference instanceof NumericSummary && current instanceof NumericSummary) return [reference, current];
  throw new StatsInputError('invalid-argument', `${statistic} applies to numeric columns only`);
}

/**
 * Above this many sample pairs (n1·n2), a drift report's KS p-value is SciPy's asymptotic form rather than the exact
 * one. The exact lattice-path count costs O(n1·n2) when the samples differ in size (a drifted 500-row window against
 * a 2,000-row reference: milliseconds per feature, more than everything else a window costs); up to this bound it
 * costs well under a millisecond. Equal sizes take SciPy's O(n) formula whatever their size.
 */
export const EXACT_KS_MAX_PAIRS = 250_000;

export const DRIFT_STATISTIC: Readonly<Record<DriftStatisticName, DriftStatistic>> = {
  psi: {
    name: 'psi',
    kinds: ['numeric', 'categorical'],
    scale: 'distance',
    defaultThreshold: 0.1,
    reportField: 'psi',
    measure: (reference, current) => psiFromCounts(...counts(reference, current)),
  },
  'jensen-shannon': {
    name: 'jensen-shannon',
    kinds: ['numeric', 'categorical'],
    scale: 'distance',
    defaultThreshold: 0.1,
    reportField: 'jensenShannon',
    measure: (reference, current) => jensenShannonDistance(...counts(reference, current)),
  },
  ks: {
    name: 'ks',
    kinds: ['numeric'],
    scale: 'p-value',
    defaultThreshold: 0.05,
    reportField: 'ksPValue',
    measure: (reference, current) => {
      const [ref, cur] = numeric(reference, current, 'ks');
      const d = weightedKsStatistic(ref.sketch.weightedItems(), cur.sketch.weightedItems());
      // The statistic comes from two sketches (rank error ~1.7/k): the exact lattice-path p-value, O(n1·n2), would
      // be false precision at window sizes where it costs tens of milliseconds per feature.
      const method = ref.count === cur.count || ref.count * cur.count <= EXACT_KS_MAX_PAIRS ? 'auto' : 'asymp';
      return ksPValue(d, ref.count, cur.count, method).pValue;
    },
  },
  wasserstein: {
    name: 'wasserstein',
    kinds: ['numeric'],
    scale: 'distance',
    defaultThreshold: 0.1,
    reportField: 'wassersteinNormed',
    measure: (reference, current) => {
      const [ref, cur] = numeric(reference, current, 'wasserstein');
      return weightedWasserstein(ref.sketch.weightedItems(), cur.sketch.weightedItems()) / Math.max(ref.std, 0.001);
    },
  },
  chi2: {
    name: 'chi2',
    kinds: ['categorical'],
    scale: 'p-value',
    defaultThreshold: 0.05,
    reportField: 'chiSquarePValue',
    measure: (reference, current) => {
      if (!(reference instanceof CategoricalSummary && current instanceof CategoricalSummary)) {
        throw new StatsInputError('invalid-argument', 'chi2 applies to categorical columns only');
      }
      return chiSquareContingency(categoricalCounts(reference, current)).pValue;
    },
  },
};

/** Up to this many rows, a test's p-value is the default; above it, a distance (tests flag trivial shifts there). */
export const SMALL_SAMPLE_ROWS = 1_000;

/**
 * The default statistic of a column, Evidently's rule: up to SMALL_SAMPLE_ROWS rows, KS (numeric) or chi-square
 * (categorical) at p < 0.05; above it, where a test's power turns negligible shifts into drift, the normed Wasserstein
 * distance (numeric) or the Jensen–Shannon distance (categorical) at 0.1. `rows` is the smaller of the two samples'
 * sizes (the one that bounds the test's power).
 */
export function defaultDriftStatistic(kind: ColumnKind, rows: number): DriftStatisticName {
  if (rows <= SMALL_SAMPLE_ROWS) return kind === 'numeric' ? 'ks' : 'chi2';
  return kind === 'numeric' ? 'wasserstein' : 'jensen-shannon';
}

/** A statistic and threshold chosen for a column (the threshold defaults to the statistic's). */
export interface DriftTestChoice {
  readonly statistic: DriftStatisticName;
  readonly threshold?: number;
}

/** One column's drift test: the statistic, its value, the threshold and the verdict. */
export interface DriftTestResult {
  readonly statistic: DriftStatisticName;
  readonly value: number;
  readonly threshold: number;
  readonly drifted: boolean;
}

/** True when `value` is past `threshold` on the statistic's scale. */
export function isDrift(statistic: DriftStatisticName, value: number, threshold: number): boolean {
  return DRIFT_STATISTIC[statistic].scale === 'p-value' ? value < threshold : value >= threshold;
}

/**
 * Tests one column: the chosen statistic (or the default for its kind and sample size) against its threshold.
 * A statistic that does not apply to the column's kind is refused.
 */
export function testDrift(reference: Summary, current: Summary, choice?: DriftTestChoice): DriftTestResult {
  if (reference.count === 0 || current.count === 0) {
    throw new StatsInputError('empty', 'drift needs non-missing values in both the reference and the current window');
  }
  const kind: ColumnKind = reference instanceof NumericSummary ? 'numeric' : 'categorical';
  const statistic = choice?.statistic ?? defaultDriftStatistic(kind, Math.min(reference.count, current.count));
  const definition = DRIFT_STATISTIC[statistic];
  if (!definition.kinds.includes(kind)) {
    throw new StatsInputError('invalid-argument', `${statistic} does not apply to ${kind} columns`);
  }
  const threshold = choice?.threshold ?? definition.defaultThreshold;
  const value = definition.measure(reference, current);
  return { statistic, value, threshold, drifted: isDrift(statistic, value, threshold) };
}

/**
 * One column's line of a drift report (monitoring's windows, validation's version shift): the chosen test's value and
 * verdict, with PSI, Jensen–Shannon and the kind's test p-value (KS or chi-square) beside it, each computed once by
 * its declaration above. Both summaries must hold non-missing values (numeric ones on the same bin edges).
 */
export interface ColumnDriftReport {
  readonly kind: ColumnKind;
  /** The test that judged it (the choice, or the default for its kind and sample size)… */
  readonly statistic: DriftStatisticName;
  /** …its value (a distance, or a p-value for ks and chi2)… */
  readonly value: number;
  /** …and its threshold. */
  readonly threshold: number;
  readonly psi: number;
  /** Jensen–Shannon distance (base e). */
  readonly jensenShannon: number;
  /** KS p-value (numeric) or chi-square p-value (categorical). */
  readonly pValue: number;
  /** Non-missing values of the current sample. */
  readonly currentCount: number;
  readonly drifted: boolean;
}

export function columnDriftReport(reference: Summary, current: Summary, choice?: DriftTestChoice): ColumnDriftReport {
  const kind: ColumnKind = reference instanceof NumericSummary ? 'numeric' : 'categorical';
  const measured = new Map<DriftStatisticName, number>();
  const measure = (name: DriftStatisticName) => {
    let value = measured.get(name);
    if (value === undefined) {
      value = DRIFT_STATISTIC[name].measure(reference, current);
      measured.set(name, value);
    }
    return value;
  };
  const statistic = choice?.statistic ?? defaultDriftStatistic(kind, Math.min(reference.count, current.count));
  const threshold = choice?.threshold ?? DRIFT_STATISTIC[statistic].defaultThreshold;
  const value = measure(statistic);
  return {
    kind,
    statistic,
    value,
    threshold,
    psi: measure('psi'),
    jensenShannon: measure('jensen-shannon'),
    pValue: measure(kind === 'numeric' ? 'ks' : 'chi2'),
    currentCount: current.count,
    drifted: isDrift(statistic, value, threshold),
  };
}
