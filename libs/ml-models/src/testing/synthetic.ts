import { type Matrix } from '../core/matrix';
import { Rng } from '../core/random';

/** Small seeded classification problem for tests: label depends on x0, x1 and a category in x2. */
export function syntheticBinary(n: number, seed: number, missingRate = 0): { x: Matrix; y: Uint8Array } {
  const rng = new Rng(seed);
  const d = 4;
  const data = new Float64Array(n * d);
  const y = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const a = rng.next() * 4 - 2;
    const b = rng.next() * 4 - 2;
    const cat = rng.nextInt(5);
    const noise = rng.next() * 4 - 2;
    const logit = 2 * a - b + (cat === 1 || cat === 3 ? 1.5 : -1) + 0.3 * noise;
    y[i] = rng.next() < 1 / (1 + Math.exp(-logit)) ? 1 : 0;
    data[i * d] = rng.next() < missingRate ? NaN : a;
    data[i * d + 1] = b;
    data[i * d + 2] = cat;
    data[i * d + 3] = noise;
  }
  return { x: { data, nRows: n, nCols: d }, y };
}

/** ROC AUC (rank statistic, average ranks for ties); test helper only. */
export function auc(y: ArrayLike<number>, s: ArrayLike<number>): number {
  const idx = Array.from({ length: y.length }, (_, i) => i).sort((a, b) => s[a] - s[b]);
  let pos = 0;
  let rankSum = 0;
  for (let i = 0; i < idx.length;) {
    let j = i;
    while (j + 1 < idx.length && s[idx[j + 1]] === s[idx[i]]) j++;
    for (let k = i; k <= j; k++) {
      if (y[idx[k]] === 1) {
        pos++;
        rankSum += (i + j + 2) / 2;
      }
    }
    i = j + 1;
  }
  return (rankSum - (pos * (pos + 1)) / 2) / (pos * (y.length - pos));
}
