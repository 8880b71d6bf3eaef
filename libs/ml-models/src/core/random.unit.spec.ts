import { describe, expect, it } from 'vitest';
import { Rng } from './random';

describe('Rng', () => {
  it('given the same seed, when drawing, then the streams are identical', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    expect(Array.from({ length: 5 }, () => a.nextUint32())).toEqual(Array.from({ length: 5 }, () => b.nextUint32()));
  });

  it('given different seeds, when drawing, then the streams differ', () => {
    expect(new Rng(1).next()).not.toBe(new Rng(2).next());
  });

  it('when sampling indices, then they are distinct, sorted and in range', () => {
    const s = new Rng(7).sampleIndices(100, 30);
    expect(s.length).toBe(30);
    expect(new Set(s).size).toBe(30);
    expect([...s]).toEqual([...s].sort((x, y) => x - y));
    expect(Math.max(...s)).toBeLessThan(100);
  });

  it('when drawing many floats, then they lie in [0, 1) with a mean near 0.5', () => {
    const r = new Rng(3);
    let sum = 0;
    for (let i = 0; i < 10000; i++) {
      const v = r.next();
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThan(1);
      sum += v;
    }
    expect(sum / 10000).toBeCloseTo(0.5, 1);
  });
});
