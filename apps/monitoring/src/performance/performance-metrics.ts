import { type PerformanceMetrics, type PipelineTask } from '@keel/contracts';
import { accuracy, f1, mae, precision, recall, rmse, rocAuc } from '@keel/ml-stats';

export type PerformanceTask = PipelineTask;

/** Multiclass: the label of a joined row whose class is outside the spec's declared classes. */
export const UNKNOWN_CLASS = -1;

/** Scores above or at this are predicted positive (serving's `label` output uses the same cut). */
export const DECISION_THRESHOLD = 0.5;

/**
 * Performance on labelled rows. Binary classification: `scores` are probabilities of the positive label, `labels`
 * 1 for positive and 0 otherwise; AUC is left out when one class only is present. Multiclass: `scores` are the
 * predicted classes' and `labels` the true classes' indices in the declared classes (UNKNOWN_CLASS for a label
 * outside them: an error, and a class of its own in f1_macro, as scikit-learn counts an unseen label); accuracy and
 * f1_macro. Regression: `scores` are the predictions, `labels` the observed values.
 */
export function performanceMetrics(
  task: PerformanceTask,
  scores: readonly number[],
  labels: readonly number[],
): PerformanceMetrics {
  if (scores.length === 0) return {};
  if (task === 'regression') return { rmse: rmse(labels, scores), mae: mae(labels, scores) };
  if (task === 'multiclass-classification') {
    return { accuracy: accuracy(labels, scores), f1_macro: f1(labels, scores, { average: 'macro' }) };
  }
  const predicted = scores.map((score) => (score >= DECISION_THRESHOLD ? 1 : 0));
  const positives = labels.reduce((sum, label) => sum + label, 0);
  return {
    accuracy: accuracy(labels, predicted),
    precision: precision(labels, predicted),
    recall: recall(labels, predicted),
    f1: f1(labels, predicted),
    ...(positives > 0 && positives < labels.length ? { auc: rocAuc(labels, scores) } : {}),
  };
}

/** The error stream concept drift watches: 0/1 misclassification (binary or multiclass), or the absolute error. */
export function errorOf(task: PerformanceTask, score: number, label: number): number {
  if (task === 'regression') return Math.abs(score - label);
  if (task === 'multiclass-classification') return score === label ? 0 : 1;
  return (score >= DECISION_THRESHOLD ? 1 : 0) === label ? 0 : 1;
}
