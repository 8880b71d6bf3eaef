/** Objective: writes the gradient into `grad` and returns the value. */
export type Objective = (theta: Float64Array, grad: Float64Array) => number;

export interface LbfgsOptions {
  maxIterations: number;
  /** Stop when the largest gradient component is below this. */
  gradientTolerance: number;
  /** History size. */
  memory?: number;
}

export interface LbfgsResult {
  theta: Float64Array;
  value: number;
  iterations: number;
  converged: boolean;
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

function maxAbs(a: Float64Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/**
 * Limited-memory BFGS with a backtracking Armijo line search. Our objectives (L2-regularised
 * log-loss) are smooth and strictly convex, so this simple line search is enough.
 */
export function minimizeLbfgs(f: Objective, theta0: Float64Array, opts: LbfgsOptions): LbfgsResult {
  const n = theta0.length;
  const m = opts.memory ?? 10;
  const theta = Float64Array.from(theta0);
  const grad = new Float64Array(n);
  const next = new Float64Array(n);
  const nextGrad = new Float64Array(n);
  const dir = new Float64Array(n);
  const s: Float64Array[] = [];
  const y: Float64Array[] = [];
  const rho: number[] = [];
  const alpha = new Float64Array(m);
  let value = f(theta, grad);
  let iter = 0;
  for (; iter < opts.maxIterations; iter++) {
    if (maxAbs(grad) < opts.gradientTolerance) return { theta, value, iterations: iter, converged: true };
    // Two-loop recursion: dir = -H·grad.
    for (let i = 0; i < n; i++) dir[i] = -grad[i];
    for (let k = s.length - 1; k >= 0; k--) {
      alpha[k] = rho[k] * dot(s[k], dir);
      for (let i = 0; i < n; i++) dir[i] -= alpha[k] * y[k][i];
    }
    const gamma = s.length
      ? dot(s[s.length - 1], y[y.length - 1]) / dot(y[y.length - 1], y[y.length - 1])
      : 1 / Math.max(1, maxAbs(grad));
    for (let i = 0; i < n; i++) dir[i] *= gamma;
    for (let k = 0; k < s.length; k++) {
      const beta = rho[k] * dot(y[k], dir);
      for (let i = 0; i < n; i++) dir[i] += (alpha[k] - beta) * s[k][i];
    }
    let slope = dot(dir, grad);
    if (slope >= 0) {
      // Not a descent direction (numerical trouble): restart from steepest descent.
      s.length = y.length = rho.length = 0;
      for (let i = 0; i < n; i++) dir[i] = -grad[i] / Math.max(1, maxAbs(grad));
      slope = dot(dir, grad);
    }
    let step = 1;
    let nextValue = Infinity;
    for (let ls = 0; ls < 40; ls++) {
      for (let i = 0; i < n; i++) next[i] = theta[i] + step * dir[i];
      nextValue = f(next, nextGrad);
      if (nextValue <= value + 1e-4 * step * slope) break;
      step *= 0.5;
    }
    if (!(nextValue <= value)) return { theta, value, iterations: iter, converged: false };
    const sk = new Float64Array(n);
    const yk = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      sk[i] = next[i] - theta[i];
      yk[i] = nextGrad[i] - grad[i];
    }
    const sy = dot(sk, yk);
    if (sy > 1e-12) {
      if (s.length === m) {
        s.shift();
        y.shift();
        rho.shift();
      }
      s.push(sk);
      y.push(yk);
      rho.push(1 / sy);
    }
    const improvement = value - nextValue;
    theta.set(next);
    grad.set(nextGrad);
    value = nextValue;
    if (improvement <= 1e-12 * Math.max(1, Math.abs(value))) {
      return { theta, value, iterations: iter + 1, converged: true };
    }
  }
  return { theta, value, iterations: iter, converged: maxAbs(grad) < opts.gradientTolerance };
}
