import { StatsInputError } from '../errors';
import { assertBinary, assertPaired, type Numbers } from '../internal/validate';

/**
 * Cumulative true/false positive counts at each distinct score, from the highest score down.
 * Tied scores form one threshold, which is what gives ties half credit in the AUC (as scikit-learn's roc_curve).
 */
interface Curve {
  readonly tps: Float64Array;
  readonly fps: Float64Array;
  readonly length: number;
  readonly positives: number;
  readonly negatives: number;
}

function binaryCurve(yTrue: Numbers, scores: Numbers): Curve {
  assertPaired('yTrue', yTrue, 'scores', scores);
  assertBinary('yTrue', yTrue);
  const n = yTrue.length;
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => scores[b] - scores[a]);
  const tps = new Float64Array(n);
  const fps = new Float64Array(n);
  let tp = 0;
  let fp = 0;
  let length = 0;
  for (let k = 0; k < n; k++) {
    const i = order[k];
    if (yTrue[i] === 1) tp++;
    else fp++;
    // Emit a point only where the score changes (or at the end), so ties collapse into one step.
    if (k === n - 1 || scores[order[k + 1]] !== scores[i]) {
      tps[length] = tp;
      fps[length] = fp;
      length++;
    }
  }
  return { tps, fps, length, positives: tp, negatives: fp };
}

/**
 * Area under the ROC curve for binary labels (0/1) and real-valued scores, trapezoidal over distinct thresholds
 * exactly as scikit-learn's `roc_auc_score` (equivalently the Mann-Whitney U with tied pairs counting ½).
 * Throws `single-class` when only one class is present, where the AUC is undefined.
 */
export function rocAuc(yTrue: Numbers, scores: Numbers): number {
  const curve = binaryCurve(yTrue, scores);
  if (curve.positives === 0 || curve.negatives === 0) {
    throw new StatsInputError('single-class', 'ROC AUC is undefined when yTrue holds only one class');
  }
  let area = 0;
  let prevTp = 0;
  let prevFp = 0;
  for (let k = 0; k < curve.length; k++) {
    area += (curve.fps[k] - prevFp) * (curve.tps[k] + prevTp);
    prevTp = curve.tps[k];
    prevFp = curve.fps[k];
  }
  return area / (2 * curve.positives * curve.negatives);
}

/**
 * Average precision as scikit-learn's `average_precision_score` defines it: Σ (Rₖ − Rₖ₋₁)·Pₖ over distinct
 * thresholds, a step function with no interpolation (so not the trapezoidal PR AUC, which is optimistic).
 * Throws `single-class` when there are no positives (recall undefined).
 */
export function averagePrecision(yTrue: Numbers, scores: Numbers): number {
  const curve = binaryCurve(yTrue, scores);
  if (curve.positives === 0) {
    throw new StatsInputError('single-class', 'average precision is undefined when yTrue has no positive (1) label');
  }
  let ap = 0;
  let prevRecall = 0;
  for (let k = 0; k < curve.length; k++) {
    const tp = curve.tps[k];
    const recallK = tp / curve.positives;
    ap += (recallK - prevRecall) * (tp / (tp + curve.fps[k]));
    prevRecall = recallK;
  }
  return ap;
}

/** Alias of {@link averagePrecision}: the PR AUC the platform reports is scikit-learn's average precision. */
export const prAuc = averagePrecision;
