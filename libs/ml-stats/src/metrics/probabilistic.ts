import { StatsInputError } from '../errors';
import {
  assertBinary,
  assertNonEmpty,
  assertPaired,
  assertPositiveInteger,
  assertProbabilities,
  type Numbers,
} from '../internal/validate';

// scikit-learn clips probabilities to [eps, 1 − eps] with eps = float64 machine epsilon, so log(0) never occurs.
const EPS = Number.EPSILON;

function checkBinaryProbabilities(yTrue: Numbers, probabilities: Numbers): void {
  assertPaired('yTrue', yTrue, 'probabilities', probabilities);
  assertBinary('yTrue', yTrue);
  assertProbabilities('probabilities', probabilities);
}

/** Binary cross-entropy of P(y = 1), natural log, with scikit-learn's clipping to [ε, 1 − ε]. */
export function logLoss(yTrue: Numbers, probabilities: Numbers): number {
  checkBinaryProbabilities(yTrue, probabilities);
  let sum = 0;
  for (let i = 0; i < yTrue.length; i++) {
    const p = Math.min(Math.max(probabilities[i], EPS), 1 - EPS);
    sum -= yTrue[i] === 1 ? Math.log(p) : Math.log(1 - p);
  }
  return sum / yTrue.length;
}

/**
 * Multinomial cross-entropy (scikit-learn's `log_loss` with more than two classes): `probabilities` is row-major
 * `n × k`, row i the probabilities of classes 0 … k−1, and `yTrue[i]` the index of row i's class. Probabilities are
 * clipped to [ε, 1 − ε] like the binary form; rows are not renormalized, so pass a distribution (a softmax output).
 */
export function multiclassLogLoss(yTrue: Numbers, probabilities: Numbers, k: number): number {
  assertPositiveInteger('k', k);
  assertNonEmpty('yTrue', yTrue);
  if (probabilities.length !== yTrue.length * k) {
    throw new StatsInputError(
      'invalid-argument',
      `probabilities has ${probabilities.length} values; expected ${yTrue.length} rows × ${k} classes`,
    );
  }
  assertProbabilities('probabilities', probabilities);
  let sum = 0;
  for (let i = 0; i < yTrue.length; i++) {
    const c = yTrue[i];
    if (!Number.isInteger(c) || c < 0 || c >= k) {
      throw new StatsInputError('invalid-argument', `yTrue[${i}] is ${c}; expected a class index in [0, ${k})`);
    }
    sum -= Math.log(Math.min(Math.max(probabilities[i * k + c], EPS), 1 - EPS));
  }
  return sum / yTrue.length;
}

/** Brier score: mean squared difference between P(y = 1) and the 0/1 outcome. */
export function brierScore(yTrue: Numbers, probabilities: Numbers): number {
  checkBinaryProbabilities(yTrue, probabilities);
  let sum = 0;
  for (let i = 0; i < yTrue.length; i++) {
    const d = probabilities[i] - yTrue[i];
    sum += d * d;
  }
  return sum / yTrue.length;
}

/** One reliability-diagram bin. `meanPredicted`/`fractionPositive` are NaN-free: empty bins have count 0 and nulls. */
export interface CalibrationBin {
  readonly lower: number;
  readonly upper: number;
  readonly count: number;
  readonly meanPredicted: number | null;
  readonly fractionPositive: number | null;
}

/** Reliability diagram plus the expected calibration error (count-weighted mean |fractionPositive − meanPredicted|). */
export interface Calibration {
  readonly bins: CalibrationBin[];
  readonly expectedCalibrationError: number;
}

/**
 * Uniform-width calibration bins over [0, 1], binned as scikit-learn's `calibration_curve(strategy='uniform')`
 * (bin i holds p in (edgeᵢ, edgeᵢ₊₁], the first bin also holds 0); its `prob_true`/`prob_pred` are the non-empty bins'
 * `fractionPositive`/`meanPredicted`.
 */
export function calibrationBins(yTrue: Numbers, probabilities: Numbers, nBins = 10): Calibration {
  checkBinaryProbabilities(yTrue, probabilities);
  assertPositiveInteger('nBins', nBins);
  // numpy.linspace computes interior edges as i * (1 / n); reproduce it so edge cases bin identically.
  const step = 1 / nBins;
  const edges = Array.from({ length: nBins + 1 }, (_, i) => (i === nBins ? 1 : i * step));
  const sums = new Float64Array(nBins);
  const positives = new Float64Array(nBins);
  const counts = new Float64Array(nBins);
  for (let i = 0; i < yTrue.length; i++) {
    const p = probabilities[i];
    // searchsorted(edges[1:-1], p, side='left') = number of interior edges strictly below p.
    let lo = 0;
    let hi = nBins - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (edges[mid + 1] < p) lo = mid + 1;
      else hi = mid;
    }
    sums[lo] += p;
    positives[lo] += yTrue[i];
    counts[lo]++;
  }
  let ece = 0;
  const bins: CalibrationBin[] = [];
  for (let b = 0; b < nBins; b++) {
    const count = counts[b];
    const meanPredicted = count > 0 ? sums[b] / count : null;
    const fractionPositive = count > 0 ? positives[b] / count : null;
    if (count > 0) ece += (count / yTrue.length) * Math.abs(fractionPositive! - meanPredicted!);
    bins.push({ lower: edges[b], upper: edges[b + 1], count, meanPredicted, fractionPositive });
  }
  if (!Number.isFinite(ece)) throw new StatsInputError('undefined', 'calibration error is not finite');
  return { bins, expectedCalibrationError: ece };
}
