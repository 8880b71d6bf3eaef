import { describe, expect, it } from 'vitest';
import { BloomFilter } from './bloom-filter';

describe('BloomFilter', () => {
  it('given 1,000 ids, finds every one of them and about 1 % of 10,000 others, also after a round trip through bytes', () => {
    const filter = BloomFilter.sized(1_000);
    for (let i = 0; i < 1_000; i++) filter.add(`pred-${i}`);
    const restored = BloomFilter.fromBytes(filter.toBytes());

    for (const f of [filter, restored]) {
      expect(Array.from({ length: 1_000 }, (_, i) => f.mightContain(`pred-${i}`)).every(Boolean)).toBe(true);
      const falsePositives = Array.from({ length: 10_000 }, (_, i) => f.mightContain(`other-${i}`)).filter(Boolean);
      expect(falsePositives.length).toBeLessThan(300);
    }
    expect(restored.size).toBe(1_000);
  });

  it('refuses bytes that are not a filter', () => {
    expect(() => BloomFilter.fromBytes(new Uint8Array(5))).toThrow(/header/);
    expect(() => BloomFilter.fromBytes(new Uint8Array(40))).toThrow(/bad header/);
  });
});
