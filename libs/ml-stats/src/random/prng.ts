import { StatsInputError } from '../errors';

/**
 * Seeded pseudo-random generator (xoshiro128**, seeded through splitmix32): fast, 2¹²⁸ − 1 period, and its state is
 * four uint32s so it can be saved in a JSON summary and resumed. Not cryptographic.
 */
export class Prng {
  private s: Uint32Array;
  private spareNormal: number | null = null;

  constructor(seed: number | readonly number[] = 1) {
    if (Array.isArray(seed)) {
      if (seed.length !== 4 || seed.every((v) => v === 0)) {
        throw new StatsInputError('invalid-argument', 'Prng state must be 4 uint32 values, not all zero');
      }
      this.s = Uint32Array.from(seed);
      return;
    }
    const n = seed as number;
    if (!Number.isInteger(n)) throw new StatsInputError('invalid-argument', `Prng seed must be an integer, got ${n}`);
    let x = n >>> 0;
    this.s = new Uint32Array(4);
    for (let i = 0; i < 4; i++) {
      // splitmix32 spreads even tiny seeds (0, 1, 2) over the whole state.
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      this.s[i] = (z ^ (z >>> 16)) >>> 0;
    }
    if (this.s.every((v) => v === 0)) this.s[0] = 1;
  }

  /** The generator state, to serialise and later pass back to the constructor. */
  get state(): number[] {
    return Array.from(this.s);
  }

  /** Uniform uint32. */
  nextUint32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  next(): number {
    const hi = this.nextUint32() >>> 5;
    const lo = this.nextUint32() >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform integer in [0, n). */
  nextInt(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Standard normal variate (Marsaglia polar method, the second variate is kept for the next call). */
  normal(): number {
    if (this.spareNormal !== null) {
      const v = this.spareNormal;
      this.spareNormal = null;
      return v;
    }
    let u: number;
    let v: number;
    let s: number;
    do {
      u = 2 * this.next() - 1;
      v = 2 * this.next() - 1;
      s = u * u + v * v;
    } while (s >= 1 || s === 0);
    const f = Math.sqrt((-2 * Math.log(s)) / s);
    this.spareNormal = v * f;
    return u * f;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
