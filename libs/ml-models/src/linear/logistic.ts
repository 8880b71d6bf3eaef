import { InvalidParameterError } from '../core/errors';
import { checkTrainingData, countClasses, type Labels, type Matrix } from '../core/matrix';
import { minimizeLbfgs } from './lbfgs';
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
}

/**
 * L2-regularised logistic regression by L-BFGS: binary (sigmoid) for two classes, multinomial
 * (softmax) for more. Features must be finite; impute and standardise them first.
 */
export function trainLogisticRegression(x: Matrix, y: Labels, options: LogisticRegressionOptions = {}): LinearModelBody {
  checkTrainingData(x, y, false);
  const l2 = options.l2 ?? 1e-4;
  if (!(l2 >= 0) || !Number.isFinite(l2)) throw new InvalidParameterError('l2', `must be a finite number ≥ 0, got ${l2}`);
  const maxIterations = options.maxIterations ?? 500;
  if (!(maxIterations >= 1)) throw new InvalidParameterError('maxIterations', 'must be ≥ 1');
  const k = countClasses(y, options.nClasses);
  const nOut = k === 2 ? 1 : k;
  const { nRows: n, nCols: d, data } = x;
  const stride = d + 1; // per output: d weights then the intercept
  const z = new Float64Array(nOut);
  const invN = 1 / n;

  const objective = (theta: Float64Array, grad: Float64Array): number => {
    grad.fill(0);
    let loss = 0;
    for (let i = 0; i < n; i++) {
      const row = i * d;
      for (let o = 0; o < nOut; o++) {
        const base = o * stride;
        let s = theta[base + d];
        for (let j = 0; j < d; j++) s += theta[base + j] * data[row + j];
        z[o] = s;
      }
      const yi = y[i];
      if (nOut === 1) {
        const s = z[0];
        // Stable log(1 + e^s) - y·s.
        loss += (s > 0 ? s + Math.log1p(Math.exp(-s)) : Math.log1p(Math.exp(s))) - (yi === 1 ? s : 0);
        const r = 1 / (1 + Math.exp(-s)) - yi;
        for (let j = 0; j < d; j++) grad[j] += r * data[row + j];
        grad[d] += r;
      } else {
        let max = -Infinity;
        for (let o = 0; o < nOut; o++) if (z[o] > max) max = z[o];
        let sum = 0;
        for (let o = 0; o < nOut; o++) sum += Math.exp(z[o] - max);
        const lse = max + Math.log(sum);
        loss += lse - z[yi];
        for (let o = 0; o < nOut; o++) {
          const r = Math.exp(z[o] - lse) - (o === yi ? 1 : 0);
          const base = o * stride;
          for (let j = 0; j < d; j++) grad[base + j] += r * data[row + j];
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

  const res = minimizeLbfgs(objective, new Float64Array(nOut * stride), {
    maxIterations,
    gradientTolerance: options.gradientTolerance ?? 1e-7,
  });
  const weights: number[] = [];
  const intercepts: number[] = [];
  for (let o = 0; o < nOut; o++) {
    for (let j = 0; j < d; j++) weights.push(res.theta[o * stride + j]);
    intercepts.push(res.theta[o * stride + d]);
  }
  return { kind: 'linear', task: k === 2 ? 'binary' : 'multiclass', nFeatures: d, nOutputs: nOut, weights, intercepts };
}
