import { InvalidParameterError } from '../core/errors';
import { checkSampleWeights, checkTrainingData, countClasses, type Labels, type Matrix } from '../core/matrix';
import { type LbfgsResult, minimizeLbfgs, type Objective } from './lbfgs';
import { choleskySolve } from './ridge';
import { type LinearModelBody } from './linear-model';

/** Options for {@link trainLogisticRegression}. */
export interface LogisticRegressionOptions {
  /**
   * L2 strength λ in `mean(log-loss) + λ/2·‖w‖²` (intercepts are not penalised).
   * scikit-learn's `C` corresponds to λ = 1 / (C · nRows). Default 1e-4.
   */
  l2?: number;
  maxIterations?: number;
  gradientTolerance?: number;
  /** Number of classes; inferred from the labels when omitted. */
  nClasses?: number;
  /** Per-row weights (non-negative, not all zero): the loss is their weighted mean. Default: all 1. */
  sampleWeights?: ArrayLike<number>;
}

/**
 * L2-regularised logistic regression by L-BFGS: binary (sigmoid) for two classes, multinomial
 * (softmax) for more. Features must be finite; impute and standardise them first.
 */
export function trainLogisticRegression(
  x: Matrix,
  y: Labels,
  options: LogisticRegressionOptions = {},
): LinearModelBody {
  checkTrainingData(x, y, false);
  const l2 = options.l2 ?? 1e-4;
  if (!(l2 >= 0) || !Number.isFinite(l2))
    throw new InvalidParameterError('l2', `must be a finite number ≥ 0, got ${l2}`);
  const maxIterations = options.maxIterations ?? 500;
  if (!(maxIterations >= 1)) throw new InvalidParameterError('maxIterations', 'must be ≥ 1');
  const k = countClasses(y, options.nClasses);
  const nOut = k === 2 ? 1 : k;
  const { nRows: n, nCols: d, data } = x;
  const stride = d + 1; // per output: d weights then the intercept
  const z = new Float64Array(nOut);
  const sampleWeights = checkSampleWeights(options.sampleWeights, n);
  const weightOf = (i: number) => (sampleWeights ? sampleWeights[i] : 1);
  const invN = 1 / (sampleWeights ? sampleWeights.reduce((sum, w) => sum + w, 0) : n);

  // Sparse rows (one-hot columns are mostly zero): each pass costs O(non-zeros), not O(n·d).
  const rowPtr = new Int32Array(n + 1);
  let nnz = 0;
  for (let i = 0; i < n * d; i++) if (data[i] !== 0) nnz++;
  const cols = new Int32Array(nnz);
  const vals = new Float64Array(nnz);
  for (let i = 0, k = 0; i < n; i++) {
    for (let j = 0; j < d; j++) {
      const v = data[i * d + j];
      if (v !== 0) {
        cols[k] = j;
        vals[k++] = v;
      }
    }
    rowPtr[i + 1] = k;
  }

  const objective = (theta: Float64Array, grad: Float64Array): number => {
    grad.fill(0);
    let loss = 0;
    for (let i = 0; i < n; i++) {
      const a = rowPtr[i];
      const b = rowPtr[i + 1];
      for (let o = 0; o < nOut; o++) {
        const base = o * stride;
        let s = theta[base + d];
        for (let k = a; k < b; k++) s += theta[base + cols[k]] * vals[k];
        z[o] = s;
      }
      const yi = y[i];
      const wi = weightOf(i);
      if (nOut === 1) {
        const s = z[0];
        // Stable log(1 + e^s) - y·s and σ(s) from one exponential.
        const e = Math.exp(-Math.abs(s));
        loss += wi * ((s > 0 ? s : 0) + Math.log1p(e) - (yi === 1 ? s : 0));
        const r = wi * ((s >= 0 ? 1 / (1 + e) : e / (1 + e)) - yi);
        for (let k = a; k < b; k++) grad[cols[k]] += r * vals[k];
        grad[d] += r;
      } else {
        let max = -Infinity;
        for (let o = 0; o < nOut; o++) if (z[o] > max) max = z[o];
        let sum = 0;
        for (let o = 0; o < nOut; o++) sum += Math.exp(z[o] - max);
        const lse = max + Math.log(sum);
        loss += wi * (lse - z[yi]);
        for (let o = 0; o < nOut; o++) {
          const r = wi * (Math.exp(z[o] - lse) - (o === yi ? 1 : 0));
          const base = o * stride;
          for (let k = a; k < b; k++) grad[base + cols[k]] += r * vals[k];
          grad[base + d] += r;
        }
      }
    }
    let penalty = 0;
    for (let o = 0; o < nOut; o++) {
      const base = o * stride;
      for (let j = 0; j < d; j++) {
        const w = theta[base + j];
        penalty += w * w;
        grad[base + j] = grad[base + j] * invN + l2 * w;
      }
      grad[base + d] *= invN;
    }
    return loss * invN + 0.5 * l2 * penalty;
  };

  const gradientTolerance = options.gradientTolerance ?? 1e-6;
  // Binary: Newton's method converges in a handful of steps even when the problem is badly
  // conditioned (rare one-hot columns), where L-BFGS needs hundreds. Multiclass (K·d parameters)
  // and the rare non-positive-definite case use L-BFGS.
  // Newton's step is derived for unit weights; weighted problems take L-BFGS.
  const newton =
    nOut === 1 && !sampleWeights
      ? newtonBinary(rowPtr, cols, vals, y, d, l2, objective, maxIterations, gradientTolerance)
      : null;
  const res = newton ?? minimizeLbfgs(objective, new Float64Array(nOut * stride), { maxIterations, gradientTolerance });
  const weights: number[] = [];
  const intercepts: number[] = [];
  for (let o = 0; o < nOut; o++) {
    for (let j = 0; j < d; j++) weights.push(res.theta[o * stride + j]);
    intercepts.push(res.theta[o * stride + d]);
  }
  return { kind: 'linear', task: k === 2 ? 'binary' : 'multiclass', nFeatures: d, nOutputs: nOut, weights, intercepts };
}

/** Damped Newton (IRLS) for binary logistic regression on CSR rows; null if a step fails. */
function newtonBinary(
  rowPtr: Int32Array,
  cols: Int32Array,
  vals: Float64Array,
  y: Labels,
  d: number,
  l2: number,
  objective: Objective,
  maxIterations: number,
  gradientTolerance: number,
): LbfgsResult | null {
  const n = rowPtr.length - 1;
  const p = d + 1;
  let theta = new Float64Array(p);
  const grad = new Float64Array(p);
  const trialGrad = new Float64Array(p);
  const hess = new Float64Array(p * p);
  let value = objective(theta, grad);
  for (let iter = 0; iter < Math.min(maxIterations, 100); iter++) {
    let gmax = 0;
    for (let j = 0; j < p; j++) gmax = Math.max(gmax, Math.abs(grad[j]));
    if (gmax < gradientTolerance) return { theta, value, iterations: iter, converged: true };
    // Hessian (1/n)·Σ p(1-p)·x̃x̃ᵀ + λI on the weights; lower triangle only, then mirrored.
    hess.fill(0);
    for (let i = 0; i < n; i++) {
      const a = rowPtr[i];
      const b = rowPtr[i + 1];
      let s = theta[d];
      for (let k = a; k < b; k++) s += theta[cols[k]] * vals[k];
      const pr = 1 / (1 + Math.exp(-s));
      const w = pr * (1 - pr);
      for (let k = a; k < b; k++) {
        const wk = w * vals[k];
        const row = cols[k] * p;
        for (let m = a; m <= k; m++) hess[row + cols[m]] += wk * vals[m];
        hess[d * p + cols[k]] += wk;
      }
      hess[d * p + d] += w;
    }
    for (let r = 0; r < p; r++) {
      for (let c = 0; c < r; c++) hess[c * p + r] = hess[r * p + c] /= n;
      hess[r * p + r] = hess[r * p + r] / n + (r < d ? l2 : 0) + 1e-12;
    }
    const step = Float64Array.from(grad);
    if (!choleskySolve(hess, step, p)) return null;
    let t = 1;
    let accepted = false;
    for (let ls = 0; ls < 30; ls++) {
      const trial = new Float64Array(p);
      for (let j = 0; j < p; j++) trial[j] = theta[j] - t * step[j];
      const v = objective(trial, trialGrad);
      if (v <= value) {
        theta = trial;
        grad.set(trialGrad);
        const done = value - v <= 1e-15 * Math.max(1, Math.abs(v));
        value = v;
        accepted = true;
        if (done) return { theta, value, iterations: iter + 1, converged: true };
        break;
      }
      t *= 0.5;
    }
    if (!accepted) return { theta, value, iterations: iter + 1, converged: false };
  }
  return { theta, value, iterations: maxIterations, converged: false };
}
