import { StatsInputError } from '../errors';
import { assertFinite, assertNonEmpty, assertSameLength, type Numbers } from '../internal/validate';
import { IsotonicRegression } from './isotonic';

/** Labelled rows CBPE calibrates on: scores (probability of the positive class) and 0/1 labels. */
export interface CbpeReference {
  scores: Numbers;
  labels: Numbers;
}

export interface CbpeOptions {
  /** Scores at or above this are predicted positive (default 0.5). */
  threshold?: number;
  /**
   * Calibrate the scores on the reference with isotonic regression before estimating (default true). NannyML
   * decides this by a cross-validated calibration-error check on the reference; a caller that knows its scores are
   * calibrated passes false.
   */
  calibrate?: boolean;
}

/** Estimated binary-classification metrics of rows without labels. */
export interface CbpeEstimate {
  accuracy: number;
  precision: number;
  recall: number;
  f1: number;
  /** Absent when it is undefined (every calibrated score 0, or every one 1). */
  rocAuc?: number;
  /** Rows estimated. */
  rows: number;
}

/**
 * Confidence-based performance estimation (CBPE, as NannyML's for binary classification): each row's calibrated
 * score is the probability that it is positive, so the expected confusion matrix of the predictions (score ≥
 * threshold) is the sum of those probabilities, and accuracy, precision, recall and F1 follow from it (0 when a
 * denominator is 0, as NannyML). ROC AUC is the area under the curve whose true and false positives at each cut of
 * the uncalibrated scores (descending) are the cumulative calibrated scores and their complements, rounded to 5
 * decimals as NannyML does.
 */
export function cbpe(reference: CbpeReference, scores: Numbers, options: CbpeOptions = {}): CbpeEstimate {
  const threshold = options.threshold ?? 0.5;
  assertSameLength(['reference.scores', 'reference.labels'], [reference.scores, reference.labels]);
  assertFinite('reference.scores', reference.scores);
  assertFinite('scores', scores);
  assertNonEmpty('scores', scores);
  for (let i = 0; i < reference.labels.length; i++) {
    if (reference.labels[i] !== 0 && reference.labels[i] !== 1) {
      throw new StatsInputError('invalid-argument', 'reference.labels must be 0 or 1');
    }
  }
  let calibrated: Numbers = scores;
  if (options.calibrate ?? true) {
    assertNonEmpty('reference.scores', reference.scores);
    calibrated = IsotonicRegression.fit(reference.scores, reference.labels).predict(scores);
  }
  let tp = 0;
  let fp = 0;
  let fn = 0;
  let tn = 0;
  for (let i = 0; i < scores.length; i++) {
    const p = calibrated[i];
    if (scores[i] >= threshold) {
      tp += p;
      fp += 1 - p;
    } else {
      fn += p;
      tn += 1 - p;
    }
  }
  const ratio = (a: number, b: number) => (b !== 0 ? a / b : 0);
  const auc = estimatedRocAuc(calibrated, scores);
  return {
    accuracy: (tp + tn) / scores.length,
    precision: ratio(tp, tp + fp),
    recall: ratio(tp, tp + fn),
    f1: ratio(tp, tp + 0.5 * (fp + fn)),
    ...(auc !== undefined ? { rocAuc: auc } : {}),
    rows: scores.length,
  };
}

const round5 = (x: number) => Math.round(x * 1e5) / 1e5;

function estimatedRocAuc(calibrated: Numbers, scores: Numbers): number | undefined {
  const order = Array.from(scores, (_, i) => i).sort((a, b) => scores[b] - scores[a]);
  const n = order.length;
  const tps = new Float64Array(n + 1);
  const fps = new Float64Array(n + 1);
  let cumulative = 0;
  for (let k = 0; k < n; k++) {
    cumulative += calibrated[order[k]];
    tps[k + 1] = round5(cumulative);
    fps[k + 1] = round5(1 + k - cumulative);
  }
  const tpTotal = tps[n];
  const fpTotal = fps[n];
  if (!(tpTotal > 0) || !(fpTotal > 0)) return undefined;
  let area = 0;
  for (let k = 1; k <= n; k++) {
    area += ((fps[k] - fps[k - 1]) / fpTotal) * ((tps[k] + tps[k - 1]) / tpTotal / 2);
  }
  return area;
}
