import { StatsInputError } from '../errors';
import { assertPaired, type Numbers } from '../internal/validate';

/** Root mean squared error. */
export function rmse(yTrue: Numbers, yPred: Numbers): number {
  assertPaired('yTrue', yTrue, 'yPred', yPred);
  let sum = 0;
  for (let i = 0; i < yTrue.length; i++) {
    const d = yTrue[i] - yPred[i];
    sum += d * d;
  }
  return Math.sqrt(sum / yTrue.length);
}

/** Mean absolute error. */
export function mae(yTrue: Numbers, yPred: Numbers): number {
  assertPaired('yTrue', yTrue, 'yPred', yPred);
  let sum = 0;
  for (let i = 0; i < yTrue.length; i++) sum += Math.abs(yTrue[i] - yPred[i]);
  return sum / yTrue.length;
}

/**
 * Coefficient of determination 1 − SS_res / SS_tot. Throws `undefined` when yTrue is constant or has one row,
 * where scikit-learn would substitute 1.0/0.0 (or NaN) for the undefined ratio.
 */
export function r2(yTrue: Numbers, yPred: Numbers): number {
  assertPaired('yTrue', yTrue, 'yPred', yPred);
  const n = yTrue.length;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += yTrue[i];
  mean /= n;
  let ssRes = 0;
  let ssTot = 0;
  for (let i = 0; i < n; i++) {
    const r = yTrue[i] - yPred[i];
    const t = yTrue[i] - mean;
    ssRes += r * r;
    ssTot += t * t;
  }
  if (n < 2 || ssTot === 0) {
    throw new StatsInputError('undefined', 'R² is undefined when yTrue has fewer than 2 rows or is constant');
  }
  return 1 - ssRes / ssTot;
}

/**
 * Mean absolute percentage error as a fraction (0.1 = 10 %), scikit-learn's definition: |y − ŷ| / max(|y|, ε),
 * ε = float64 machine epsilon. A zero in yTrue therefore yields a huge (finite) value, as in scikit-learn.
 */
export function mape(yTrue: Numbers, yPred: Numbers): number {
  assertPaired('yTrue', yTrue, 'yPred', yPred);
  let sum = 0;
  for (let i = 0; i < yTrue.length; i++) {
    sum += Math.abs(yPred[i] - yTrue[i]) / Math.max(Math.abs(yTrue[i]), Number.EPSILON);
  }
  return sum / yTrue.length;
}
