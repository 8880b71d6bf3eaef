/**
 * Seeded PRNG (mulberry32). Every stochastic step in this library draws from one of these so
 * that the same data and seed always give the same model.
 */
export class Rng {
  private state: number;

  constructor(seed: number) {
    // Mix the seed once so that small consecutive seeds do not give correlated first draws.
    this.state = (Math.imul((seed >>> 0) ^ 0x9e3779b9, 0x85ebca6b) ^ 0xc2b2ae35) >>> 0;
  }

  /** Uniform 32-bit unsigned integer. */
  nextUint32(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform float in [0, 1). */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  nextInt(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** In-place Fisher–Yates shuffle. */
  shuffle<T extends { length: number; [i: number]: number }>(a: T): T {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.nextInt(i + 1);
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
    return a;
  }

  /** `k` distinct indices from [0, n), sorted ascending. */
  sampleIndices(n: number, k: number): Uint32Array {
    const all = new Uint32Array(n);
    for (let i = 0; i < n; i++) all[i] = i;
    // Partial Fisher–Yates: only the first k positions are needed.
    for (let i = 0; i < k; i++) {
      const j = i + this.nextInt(n - i);
      const t = all[i];
      all[i] = all[j];
      all[j] = t;
    }
    return all.subarray(0, k).sort();
  }

  /** A child generator, so sub-steps can be reseeded without disturbing this stream. */
  fork(): Rng {
    return new Rng(this.nextUint32());
  }
}
