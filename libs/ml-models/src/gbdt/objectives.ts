/** Loss-specific pieces of boosting: initial score, gradients, validation loss. */
export interface Objective {
  readonly nOutputs: number;
  baseScores(y: ArrayLike<number>): number[];
  /** Gradient and hessian of output `k` for every row, given raw scores `f` (row-major n × K). */
  gradients(f: Float64Array, y: ArrayLike<number>, k: number, grad: Float64Array, hess: Float64Array): void;
  /** Mean loss over rows. */
  loss(f: Float64Array, y: ArrayLike<number>): number;
}

/** Binary log-loss on the logit. */
export const binaryLogLoss: Objective = {
  nOutputs: 1,
  baseScores(y) {
    let pos = 0;
    for (let i = 0; i < y.length; i++) pos += y[i];
    const p = Math.min(Math.max(pos / y.length, 1e-15), 1 - 1e-15);
    return [Math.log(p / (1 - p))];
  },
  gradients(f, y, _k, grad, hess) {
    for (let i = 0; i < y.length; i++) {
      const p = 1 / (1 + Math.exp(-f[i]));
      grad[i] = p - y[i];
      hess[i] = Math.max(p * (1 - p), 1e-16);
    }
  },
  loss(f, y) {
    let s = 0;
    for (let i = 0; i < y.length; i++) {
      const z = f[i];
      s += (z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z))) - y[i] * z;
    }
    return s / y.length;
  },
};

/** Softmax cross-entropy with one tree per class and iteration. */
export function softmaxLoss(nClasses: number): Objective {
  const k = nClasses;
  return {
    nOutputs: k,
    baseScores(y) {
      const counts = new Float64Array(k);
      for (let i = 0; i < y.length; i++) counts[y[i]]++;
      return Array.from(counts, (c) => Math.log(Math.max(c / y.length, 1e-15)));
    },
    gradients(f, y, c, grad, hess) {
      for (let i = 0; i < y.length; i++) {
        const o = i * k;
        let max = -Infinity;
        for (let j = 0; j < k; j++) if (f[o + j] > max) max = f[o + j];
        let sum = 0;
        for (let j = 0; j < k; j++) sum += Math.exp(f[o + j] - max);
        const p = Math.exp(f[o + c] - max) / sum;
        grad[i] = p - (y[i] === c ? 1 : 0);
        hess[i] = Math.max(p * (1 - p), 1e-16);
      }
    },
    loss(f, y) {
      let s = 0;
      for (let i = 0; i < y.length; i++) {
        const o = i * k;
        let max = -Infinity;
        for (let j = 0; j < k; j++) if (f[o + j] > max) max = f[o + j];
        let sum = 0;
        for (let j = 0; j < k; j++) sum += Math.exp(f[o + j] - max);
        s += max + Math.log(sum) - f[o + y[i]];
      }
      return s / y.length;
    },
  };
}

/** Squared error (half of it, so the gradient is the residual). */
export const squaredError: Objective = {
  nOutputs: 1,
  baseScores(y) {
    let s = 0;
    for (let i = 0; i < y.length; i++) s += y[i];
    return [s / y.length];
  },
  gradients(f, y, _k, grad, hess) {
    for (let i = 0; i < y.length; i++) {
      grad[i] = f[i] - y[i];
      hess[i] = 1;
    }
  },
  loss(f, y) {
    let s = 0;
    for (let i = 0; i < y.length; i++) s += (f[i] - y[i]) ** 2;
    return s / (2 * y.length);
  },
};
