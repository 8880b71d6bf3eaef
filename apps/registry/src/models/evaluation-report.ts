import { type PipelineSpecV1 } from '@keel/contracts';
import { argmaxRows, evaluationMetrics } from '@keel/model-package';
import {
  type Calibration,
  calibrationBins,
  confusionMatrix,
  groupIndices,
  groupRates,
  perClassMetrics,
} from '@keel/ml-stats';

/** Outcomes of the decision at one threshold, and the rates they give (null where the denominator is empty). */
export interface ThresholdPoint {
  threshold: number;
  truePositive: number;
  falsePositive: number;
  trueNegative: number;
  falseNegative: number;
  selectionRate: number;
  precision: number | null;
  recall: number | null;
  falsePositiveRate: number | null;
  f1: number | null;
}

/** One group of a slice: its rows and metrics (those defined on its rows). */
export interface SliceGroup {
  group: string;
  rows: number;
  metrics: Record<string, number>;
  /** Binary classification: the group's decisions at 0.5 (Fairlearn's selection_rate, true/false_positive_rate). */
  rates?: { selectionRate: number; truePositiveRate: number | null; falsePositiveRate: number | null };
  /** Multiclass: the share of the group's rows predicted as each class (the selection rate of "predicted c"). */
  classSelectionRates?: Record<string, number>;
}

/**
 * One slice column of the report. Multiclass adds, per class, the largest gap in selection rate between its groups:
 * Fairlearn's demographic parity difference of the one-vs-rest decision "predicted c", the part of fairness that is
 * well defined without a positive label (equalized odds needs one, and stays binary only).
 */
export interface ReportSlice {
  attribute: string;
  groups: SliceGroup[];
  classSelectionRateDifference?: Record<string, number>;
}

/** One class of a multiclass report, scikit-learn's classification_report row. */
export interface ClassReport {
  class: string;
  precision: number;
  recall: number;
  f1: number;
  support: number;
}

/** A candidate's evaluation on its holdout: what the gates judged, in enough detail to see why. */
export interface EvaluationReport {
  task: PipelineSpecV1['task'];
  rows: number;
  /** Overall metrics, the ones the gates judge. */
  metrics: Record<string, number>;
  /** Metrics per group of each protected attribute and declared slice. */
  slices: ReportSlice[];
  /** Multiclass: the classes in output order, and precision, recall, F1 and support of each. */
  classes?: string[];
  perClass?: ClassReport[];
  /** Multiclass: K × K counts, matrix[i][j] the rows of class `classes[i]` predicted as `classes[j]`. */
  classConfusionMatrix?: number[][];
  /** Binary classification only. */
  confusionMatrix?: {
    threshold: number;
    truePositive: number;
    falsePositive: number;
    trueNegative: number;
    falseNegative: number;
  };
  /** Every threshold from 0 to 1 by 0.05: the ROC curve is (falsePositiveRate, recall), the PR curve (recall, precision). */
  thresholds?: ThresholdPoint[];
  calibration?: Calibration;
}

/** Thresholds of the threshold analysis: 0, 0.05, …, 1. */
export const REPORT_THRESHOLDS = Array.from({ length: 21 }, (_, i) => i / 20);

const ratio = (num: number, den: number): number | null => (den === 0 ? null : num / den);

/** The decision's outcomes at a threshold (probability ≥ threshold is positive). */
export function thresholdPoint(yTrue: Float64Array, scores: Float64Array, threshold: number): ThresholdPoint {
  let tp = 0;
  let fp = 0;
  let tn = 0;
  let fn = 0;
  for (let i = 0; i < yTrue.length; i++) {
    const decided = scores[i] >= threshold;
    if (yTrue[i] === 1) {
      if (decided) tp++;
      else fn++;
    } else if (decided) fp++;
    else tn++;
  }
  const precision = ratio(tp, tp + fp);
  const recall = ratio(tp, tp + fn);
  return {
    threshold,
    truePositive: tp,
    falsePositive: fp,
    trueNegative: tn,
    falseNegative: fn,
    selectionRate: yTrue.length === 0 ? 0 : (tp + fp) / yTrue.length,
    precision,
    recall,
    falsePositiveRate: ratio(fp, fp + tn),
    f1: ratio(2 * tp, 2 * tp + fp + fn),
  };
}

/**
 * The evaluation report of holdout predictions: overall metrics, the same metrics per group of each slice column
 * (missing values a group of their own), and for binary classification the confusion matrix at 0.5, the threshold
 * analysis (ROC and PR points) and ten calibration bins. Pure.
 */
export function buildEvaluationReport(
  task: PipelineSpecV1['task'],
  yTrue: Float64Array,
  scores: Float64Array,
  sliceColumns: Readonly<Record<string, readonly string[]>>,
  classes: readonly string[] = [],
): EvaluationReport {
  const report: EvaluationReport = {
    task,
    rows: yTrue.length,
    metrics: evaluationMetrics(task, yTrue, scores),
    slices: [],
  };
  if (task === 'multiclass-classification') return multiclassReport(report, yTrue, scores, sliceColumns, classes);
  if (yTrue.length === 0) return report;
  const binary = task === 'binary-classification';
  const decisions = binary ? Float64Array.from(scores, (p) => (p >= 0.5 ? 1 : 0)) : undefined;
  for (const [attribute, values] of Object.entries(sliceColumns)) {
    // Fairlearn's per-group rates come from the library checked against its MetricFrame.
    const rates = decisions
      ? new Map(groupRates({ yTrue, yPred: decisions, sensitive: values }).map((r) => [String(r.group), r]))
      : undefined;
    const groups: SliceGroup[] = [];
    for (const [group, rows] of groupIndices(values)) {
      const pick = (from: Float64Array) => Float64Array.from(rows, (i) => from[i]);
      const [truth, predicted] = [pick(yTrue), pick(scores)];
      const entry: SliceGroup = {
        group: String(group),
        rows: rows.length,
        metrics: evaluationMetrics(task, truth, predicted),
      };
      const rate = rates?.get(String(group));
      if (rate) {
        const { selectionRate, truePositiveRate, falsePositiveRate } = rate;
        entry.rates = { selectionRate, truePositiveRate, falsePositiveRate };
      }
      groups.push(entry);
    }
    report.slices.push({ attribute, groups });
  }
  if (binary) {
    const { truePositive, falsePositive, trueNegative, falseNegative } = thresholdPoint(yTrue, scores, 0.5);
    report.confusionMatrix = { threshold: 0.5, truePositive, falsePositive, trueNegative, falseNegative };
    report.thresholds = REPORT_THRESHOLDS.map((t) => thresholdPoint(yTrue, scores, t));
    try {
      report.calibration = calibrationBins(yTrue, scores, 10);
    } catch {
      // Scores that are not probabilities have no calibration; the rest of the report stands.
    }
  }
  return report;
}

/**
 * The multiclass report (`scores` row-major rows × classes, the prediction the most probable class): per-class
 * precision, recall, F1 and support over the declared classes, the K × K confusion matrix, and per slice group the
 * metrics and each class's selection rate, with the largest selection-rate gap per class across the groups. Rows
 * whose label is outside the classes (index −1) count in the metrics, not in the matrix.
 */
function multiclassReport(
  report: EvaluationReport,
  yTrue: Float64Array,
  scores: Float64Array,
  sliceColumns: Readonly<Record<string, readonly string[]>>,
  classes: readonly string[],
): EvaluationReport {
  const k = classes.length;
  report.classes = [...classes];
  if (yTrue.length === 0 || k === 0) return report;
  const predicted = argmaxRows(scores, k);
  const indices = classes.map((_, i) => i);
  report.perClass = perClassMetrics(yTrue, predicted, indices).map((m) => ({
    class: classes[m.label],
    precision: m.precision,
    recall: m.recall,
    f1: m.f1,
    support: m.support,
  }));
  report.classConfusionMatrix = confusionMatrix(yTrue, predicted, indices).matrix;
  for (const [attribute, values] of Object.entries(sliceColumns)) {
    const groups: SliceGroup[] = [];
    for (const [group, rows] of groupIndices(values)) {
      const truth = Float64Array.from(rows, (i) => yTrue[i]);
      const probabilities = new Float64Array(rows.length * k);
      rows.forEach((row, r) => probabilities.set(scores.subarray(row * k, row * k + k), r * k));
      const counts = new Array<number>(k).fill(0);
      for (const row of rows) counts[predicted[row]]++;
      groups.push({
        group: String(group),
        rows: rows.length,
        metrics: evaluationMetrics('multiclass-classification', truth, probabilities),
        classSelectionRates: Object.fromEntries(classes.map((name, c) => [name, counts[c] / rows.length])),
      });
    }
    const classSelectionRateDifference = Object.fromEntries(
      classes.map((name) => {
        const rates = groups.map((g) => g.classSelectionRates![name]);
        return [name, Math.max(...rates) - Math.min(...rates)];
      }),
    );
    report.slices.push({ attribute, groups, classSelectionRateDifference });
  }
  return report;
}
