import { StatsInputError } from '../errors';
import { groupIndices, type GroupKey } from '../metrics/slice';

/**
 * SageMaker Clarify's pre-training bias metrics (on the data, before any model): each facet value `d` of a protected
 * attribute against the rest of the rows `a`. Label-based ones compare the label distributions P_a and P_d.
 */
export const PRE_TRAINING_BIAS_METRICS = [
  'class_imbalance',
  'difference_in_proportions_of_labels',
  'kl_divergence',
  'js_divergence',
  'lp_norm',
  'total_variation_distance',
  'kolmogorov_smirnov',
] as const;
export type PreTrainingBiasMetric = (typeof PRE_TRAINING_BIAS_METRICS)[number];

export interface PreTrainingBiasInput {
  /** The protected attribute's value per row (missing values should come as a group of their own). */
  readonly facet: ArrayLike<GroupKey>;
  /** Labels per row; absent (regression), only class imbalance is measured. */
  readonly labels?: ArrayLike<GroupKey>;
  /** The positive label: difference in proportions of labels is about it. */
  readonly positive?: GroupKey;
}

/** One facet value against the rest: counts, positive proportions, the metrics and why any is undefined. */
export interface FacetBias {
  readonly facet: GroupKey;
  /** n_d: rows of the facet; n_a: the rest. */
  readonly count: number;
  readonly restCount: number;
  /** q_d and q_a: shares of positive labels (when labels and the positive label are given and defined). */
  readonly positiveProportion?: number;
  readonly restPositiveProportion?: number;
  readonly metrics: Partial<Record<PreTrainingBiasMetric, number>>;
  readonly undefinedMetrics: Partial<Record<PreTrainingBiasMetric, string>>;
}

/** Label counts of some rows over `classes` (index k counts rows labelled classes[k]). */
function labelCounts(
  labels: ArrayLike<GroupKey>,
  rows: ArrayLike<number>,
  classIndex: Map<GroupKey, number>,
): number[] {
  const counts = new Array<number>(classIndex.size).fill(0);
  for (let i = 0; i < rows.length; i++) counts[classIndex.get(labels[rows[i]])!]++;
  return counts;
}

/** KL(p ‖ q) in nats; undefined (returns the offending class index) when q is 0 where p is not. */
function klDivergence(p: readonly number[], q: readonly number[]): number | { missing: number } {
  let sum = 0;
  for (let k = 0; k < p.length; k++) {
    if (p[k] === 0) continue;
    if (q[k] === 0) return { missing: k };
    sum += p[k] * Math.log(p[k] / q[k]);
  }
  return sum;
}

/**
 * Clarify's pre-training bias metrics of every facet value (groups in sorted order), each against the other rows:
 * - CI = (n_a − n_d) / (n_a + n_d)
 * - DPL = q_a − q_d, q the share of positive labels
 * - KL = Σ_y P_a(y) ln(P_a(y) / P_d(y)); JS = ½[KL(P_a ‖ P) + KL(P_d ‖ P)], P = ½(P_a + P_d)
 * - LP = √Σ_y (P_a(y) − P_d(y))²; TVD = ½ Σ_y |P_a(y) − P_d(y)|; KS = max_y |P_a(y) − P_d(y)|
 * A metric the data leaves undefined (no other rows; a label the facet never has, for KL) carries the reason instead.
 */
export function preTrainingBias(input: PreTrainingBiasInput): FacetBias[] {
  const { facet, labels, positive } = input;
  if (labels && labels.length !== facet.length) {
    throw new StatsInputError('length-mismatch', `facet has ${facet.length} rows, labels ${labels.length}`);
  }
  const groups = groupIndices(facet);
  const n = facet.length;
  const classes = labels ? [...groupIndices(labels).keys()] : [];
  const classIndex = new Map(classes.map((c, k) => [c, k]));
  const allRows = Uint32Array.from({ length: n }, (_, i) => i);
  // P_a from the totals less the facet's counts: one pass per facet over its own rows, however many facets.
  const totals = labels ? labelCounts(labels, allRows, classIndex) : [];
  if (positive !== undefined && labels && !classes.includes(positive)) {
    throw new StatsInputError('invalid-argument', `no row has the positive label ${JSON.stringify(positive)}`);
  }
  const out: FacetBias[] = [];
  for (const [value, rows] of groups) {
    const nd = rows.length;
    const na = n - nd;
    const metrics: FacetBias['metrics'] = { class_imbalance: (na - nd) / n };
    const undefinedMetrics: FacetBias['undefinedMetrics'] = {};
    const result: { -readonly [K in keyof FacetBias]: FacetBias[K] } = {
      facet: value,
      count: nd,
      restCount: na,
      metrics,
      undefinedMetrics,
    };
    if (labels) {
      const labelMetrics = PRE_TRAINING_BIAS_METRICS.filter(
        (m) => m !== 'class_imbalance' && (positive !== undefined || m !== 'difference_in_proportions_of_labels'),
      );
      if (na === 0) {
        for (const m of labelMetrics) undefinedMetrics[m] = `every row is ${JSON.stringify(value)}: no other rows`;
      } else {
        const counts = labelCounts(labels, rows, classIndex);
        const pd = counts.map((c) => c / nd);
        const pa = counts.map((c, k) => (totals[k] - c) / na);
        if (positive !== undefined) {
          const k = classes.indexOf(positive);
          result.positiveProportion = pd[k];
          result.restPositiveProportion = pa[k];
          metrics.difference_in_proportions_of_labels = pa[k] - pd[k];
        }
        const kl = klDivergence(pa, pd);
        if (typeof kl === 'number') metrics.kl_divergence = kl;
        else
          undefinedMetrics.kl_divergence = `no ${JSON.stringify(value)} row is labelled ${JSON.stringify(classes[kl.missing])}`;
        const mid = pa.map((p, k) => (p + pd[k]) / 2);
        metrics.js_divergence = ((klDivergence(pa, mid) as number) + (klDivergence(pd, mid) as number)) / 2;
        const gaps = pa.map((p, k) => Math.abs(p - pd[k]));
        metrics.lp_norm = Math.sqrt(gaps.reduce((sum, g) => sum + g * g, 0));
        metrics.total_variation_distance = gaps.reduce((sum, g) => sum + g, 0) / 2;
        metrics.kolmogorov_smirnov = Math.max(...gaps);
      }
    }
    out.push(result);
  }
  return out;
}
