import { InvalidParameterError } from '../core/errors';
import { checkSampleWeights, checkTrainingData, type Labels, type Matrix } from '../core/matrix';
import { type LinearModelBody } from './linear-model';

/** Options for {@link trainLinearRegression}. */
export interface LinearRegressionOptions {
  /** Ridge strength λ in `mean((y - ŷ)²)/2 + λ/2·‖w‖²`; 0 gives ordinary least squares. */
  l2?: number;
  /** Per-row weights (non-negative, not all zero): the squared error is their weighted mean. Default: all 1. */
  sampleWeights?: ArrayLike<number>;
}

/** Solve the symmetric positive definite system `a·x = b` in place by Cholesky; false if not SPD. */
export function choleskySolve(a: Float64Array, b: Float64Array, n: number): boolean {
  for (let j = 0; j < n; j++) {
    let diag = a[j * n + j];
    for (let k = 0; k < j; k++) diag -= a[j * n + k] * a[j * n + k];
    if (!(diag > 0)) return false;
    const ljj = Math.sqrt(diag);
    a[j * n + j] = ljj;
    for (let i = j + 1; i < n; i++) {
      let s = a[i * n + j];
      for (let k = 0; k < j; k++) s -= a[i * n + k] * a[j * n + k];
      a[i * n + j] = s / ljj;
    }
  }
  for (let i = 0; i < n; i++) {
    let s = b[i];
    for (let k = 0; k < i; k++) s -= a[i * n + k] * b[k];
    b[i] = s / a[i * n + i];
  }
  for (let i = n - 1; i >= 0; i--) {
    let s = b[i];
    for (let k = i + 1; k < n; k++) s -= a[k * n + i] * b[k];
    b[i] = s / a[i * n + i];
  }
  return true;
}

/**
 * Linear / ridge regression by the normal equations (exact, one pass over the data). The
 * intercept is not penalised. A rank-deficient design with λ = 0 gets a tiny ridge so it still
 * has a (minimum-ish norm) solution rather than NaNs.
 */
export function trainLinearRegression(x: Matrix, y: Labels, options: LinearRegressionOptions = {}): LinearModelBody {
  checkTrainingData(x, y, false);
  const l2 = options.l2 ?? 0;
  if (!(l2 >= 0) || !Number.isFinite(l2))
    throw new InvalidParameterError('l2', `must be a finite number ≥ 0, got ${l2}`);
  const { nRows: n, nCols: d, data } = x;
  const p = d + 1;
  const xtx = new Float64Array(p * p);
  const xty = new Float64Array(p);
  const row = new Float64Array(p);
  row[d] = 1;
  const sampleWeights = checkSampleWeights(options.sampleWeights, n);
  let totalWeight = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) row[j] = data[i * d + j];
    const wi = sampleWeights ? sampleWeights[i] : 1;
    totalWeight += wi;
    const yi = y[i];
    for (let a = 0; a < p; a++) {
      const ra = wi * row[a];
      xty[a] += ra * yi;
      for (let b = 0; b <= a; b++) xtx[a * p + b] += ra * row[b];
    }
  }
  for (let a = 0; a < p; a++) {
    xty[a] /= totalWeight;
    for (let b = 0; b <= a; b++) xtx[b * p + a] = xtx[a * p + b] /= totalWeight;
  }
  for (let j = 0; j < d; j++) xtx[j * p + j] += l2;
  let solved = false;
  for (let jitter = 0, tries = 0; !solved && tries < 8; tries++, jitter = jitter ? jitter * 100 : 1e-12) {
    const a = Float64Array.from(xtx);
    const b = Float64Array.from(xty);
    for (let j = 0; j < p; j++) a[j * p + j] += jitter * (1 + xtx[j * p + j]);
    if (choleskySolve(a, b, p)) {
      xty.set(b);
      solved = true;
    }
  }
  if (!solved) throw new InvalidParameterError('l2', 'the normal equations are singular; use l2 > 0');
  return {
    kind: 'linear',
    task: 'regression',
    nFeatures: d,
    nOutputs: 1,
    weights: Array.from(xty.subarray(0, d)),
    intercepts: [xty[d]],
  };
}
