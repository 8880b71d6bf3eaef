import { StatsInputError } from '../errors';
import { assertFinite, assertNonEmpty, assertSameLength, type Numbers } from '../internal/validate';

/**
 * How per-class scores are combined, as in scikit-learn: `binary` reports the positive class only,
 * `macro` is the unweighted mean over classes, `weighted` weights each class by its support (true count),
 * `micro` pools the counts of all classes.
 */
export type Average = 'binary' | 'macro' | 'weighted' | 'micro';

/** Options shared by precision, recall and F1. */
export interface ClassificationOptions {
  /** Default `binary`. */
  readonly average?: Average;
  /** The positive class for `binary`; default 1. */
  readonly positiveLabel?: number;
  /** Value used when a ratio has a zero denominator (scikit-learn's `zero_division`); default 0. */
  readonly zeroDivision?: 0 | 1;
}

/** A confusion matrix: `matrix[i][j]` counts rows whose true label is `labels[i]` and predicted `labels[j]`. */
export interface ConfusionMatrix {
  readonly labels: number[];
  readonly matrix: number[][];
}

interface ClassCounts {
  readonly labels: number[];
  readonly tp: Float64Array;
  readonly fp: Float64Array;
  readonly fn: Float64Array;
  readonly support: Float64Array;
}

function checkLabels(yTrue: Numbers, yPred: Numbers): void {
  assertSameLength(['yTrue', 'yPred'], [yTrue, yPred]);
  assertNonEmpty('yTrue', yTrue);
  assertFinite('yTrue', yTrue);
  assertFinite('yPred', yPred);
}

/** Sorted union of the labels present in both arrays (scikit-learn's `unique_labels`). */
function unionLabels(yTrue: Numbers, yPred: Numbers): number[] {
  const set = new Set<number>();
  for (let i = 0; i < yTrue.length; i++) set.add(yTrue[i]).add(yPred[i]);
  return [...set].sort((a, b) => a - b);
}

/** Fraction of rows where the prediction equals the truth. */
export function accuracy(yTrue: Numbers, yPred: Numbers): number {
  checkLabels(yTrue, yPred);
  let hits = 0;
  for (let i = 0; i < yTrue.length; i++) if (yTrue[i] === yPred[i]) hits++;
  return hits / yTrue.length;
}

/** Confusion matrix over `labels` (default: sorted union of the labels seen), rows = truth, columns = prediction. */
export function confusionMatrix(yTrue: Numbers, yPred: Numbers, labels?: readonly number[]): ConfusionMatrix {
  checkLabels(yTrue, yPred);
  const used = labels ? [...labels] : unionLabels(yTrue, yPred);
  const index = new Map(used.map((label, i) => [label, i]));
  if (index.size !== used.length) throw new StatsInputError('invalid-argument', 'labels contains duplicates');
  const matrix = used.map(() => new Array<number>(used.length).fill(0));
  for (let i = 0; i < yTrue.length; i++) {
    const r = index.get(yTrue[i]);
    const c = index.get(yPred[i]);
    // Rows whose labels are outside an explicit label list are ignored, as scikit-learn does.
    if (r !== undefined && c !== undefined) matrix[r][c]++;
  }
  return { labels: used, matrix };
}

function classCounts(yTrue: Numbers, yPred: Numbers): ClassCounts {
  const labels = unionLabels(yTrue, yPred);
  const index = new Map(labels.map((label, i) => [label, i]));
  const k = labels.length;
  const tp = new Float64Array(k);
  const fp = new Float64Array(k);
  const fn = new Float64Array(k);
  const support = new Float64Array(k);
  for (let i = 0; i < yTrue.length; i++) {
    const t = index.get(yTrue[i])!;
    const p = index.get(yPred[i])!;
    support[t]++;
    if (t === p) tp[t]++;
    else {
      fp[p]++;
      fn[t]++;
    }
  }
  return { labels, tp, fp, fn, support };
}

type PerClass = (tp: number, fp: number, fn: number) => [numerator: number, denominator: number];

function averaged(yTrue: Numbers, yPred: Numbers, options: ClassificationOptions, perClass: PerClass): number {
  checkLabels(yTrue, yPred);
  const average = options.average ?? 'binary';
  const zeroDivision = options.zeroDivision ?? 0;
  const ratio = ([num, den]: [number, number]): number => (den === 0 ? zeroDivision : num / den);
  const counts = classCounts(yTrue, yPred);
  if (average === 'binary') {
    const positive = options.positiveLabel ?? 1;
    if (counts.labels.length > 2) {
      throw new StatsInputError(
        'invalid-argument',
        `average 'binary' needs at most 2 labels, found ${counts.labels.length} (${counts.labels.join(', ')}); use macro, weighted or micro`,
      );
    }
    const i = counts.labels.indexOf(positive);
    // A positive label that never occurs has tp = fp = fn = 0.
    if (i < 0) return ratio(perClass(0, 0, 0));
    return ratio(perClass(counts.tp[i], counts.fp[i], counts.fn[i]));
  }
  if (average === 'micro') {
    let tp = 0;
    let fp = 0;
    let fn = 0;
    for (let i = 0; i < counts.labels.length; i++) {
      tp += counts.tp[i];
      fp += counts.fp[i];
      fn += counts.fn[i];
    }
    return ratio(perClass(tp, fp, fn));
  }
  let sum = 0;
  let weights = 0;
  for (let i = 0; i < counts.labels.length; i++) {
    const w = average === 'weighted' ? counts.support[i] : 1;
    sum += w * ratio(perClass(counts.tp[i], counts.fp[i], counts.fn[i]));
    weights += w;
  }
  return weights === 0 ? zeroDivision : sum / weights;
}

/** Precision tp / (tp + fp), averaged as `options.average` says (default binary, positive label 1). */
export function precision(yTrue: Numbers, yPred: Numbers, options: ClassificationOptions = {}): number {
  return averaged(yTrue, yPred, options, (tp, fp) => [tp, tp + fp]);
}

/** Recall tp / (tp + fn), averaged as `options.average` says (default binary, positive label 1). */
export function recall(yTrue: Numbers, yPred: Numbers, options: ClassificationOptions = {}): number {
  return averaged(yTrue, yPred, options, (tp, _fp, fn) => [tp, tp + fn]);
}

/** F1 = 2tp / (2tp + fp + fn) (scikit-learn ≥ 1.3 form, well defined when only one of P and R is 0/0). */
export function f1(yTrue: Numbers, yPred: Numbers, options: ClassificationOptions = {}): number {
  return averaged(yTrue, yPred, options, (tp, fp, fn) => [2 * tp, 2 * tp + fp + fn]);
}

/** One class's precision, recall, F1 and support (its true count). */
export interface ClassMetrics {
  readonly label: number;
  readonly precision: number;
  readonly recall: number;
  readonly f1: number;
  readonly support: number;
}

/**
 * Precision, recall, F1 and support of every class (scikit-learn's `precision_recall_fscore_support` with
 * `average=None`): over `labels` when given (a class absent from both arrays gets zeros), otherwise the sorted union of
 * the labels seen. A zero denominator gives `zeroDivision` (default 0).
 */
export function perClassMetrics(
  yTrue: Numbers,
  yPred: Numbers,
  labels?: readonly number[],
  zeroDivision: 0 | 1 = 0,
): ClassMetrics[] {
  checkLabels(yTrue, yPred);
  const counts = classCounts(yTrue, yPred);
  const index = new Map(counts.labels.map((label, i) => [label, i]));
  const ratio = (num: number, den: number): number => (den === 0 ? zeroDivision : num / den);
  return (labels ?? counts.labels).map((label) => {
    const i = index.get(label);
    const [tp, fp, fn, support] =
      i === undefined ? [0, 0, 0, 0] : [counts.tp[i], counts.fp[i], counts.fn[i], counts.support[i]];
    return {
      label,
      precision: ratio(tp, tp + fp),
      recall: ratio(tp, tp + fn),
      f1: ratio(2 * tp, 2 * tp + fp + fn),
      support,
    };
  });
}
