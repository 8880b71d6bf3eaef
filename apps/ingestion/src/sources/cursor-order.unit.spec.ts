import { describe, expect, it } from 'vitest';
import { compareCursor } from './cursor-order';
import { compareWatermarks } from './http-pull';

/** The sign of comparing each pair, for tables of [a, b, expected]. */
const order = (pairs: [string, string, number][]) =>
  pairs.map(([a, b, expected]) => ({ a, b, expected, actual: compareCursor(a, b), reverse: compareCursor(b, a) }));

describe('compareCursor', () => {
  it('orders RFC 3339 times by their instant at full precision: microseconds, nanoseconds, a bare whole second', () => {
    for (const { a, b, expected, actual, reverse } of order([
      // the review's row, written 300 µs after the watermark row that printed as a whole second
      ['2024-01-01T00:00:00.000300Z', '2024-01-01T00:00:00Z', 1],
      ['2026-01-01T00:00:00.000001Z', '2026-01-01T00:00:00.000002Z', -1],
      ['2026-01-01T00:00:00.000000001Z', '2026-01-01T00:00:00Z', 1],
      ['2026-01-01T00:00:00.123456789Z', '2026-01-01T00:00:00.12345678Z', 1],
      ['2026-01-01T00:00:00.999999999Z', '2026-01-01T00:00:01Z', -1],
      ['2026-01-01T00:00:00.5Z', '2026-01-01T00:00:00.500000Z', 0],
    ])) {
      expect([a, b, actual, reverse]).toEqual([a, b, expected, -expected || 0]);
    }
  });

  it('takes zone offsets into account: Z, +00:00, +02:00, -0530, and a time without a zone as UTC', () => {
    for (const { a, b, expected, actual, reverse } of order([
      ['2024-01-01T00:00:00Z', '2024-01-01T00:00:00+00:00', 0],
      ['2024-01-01T02:00:00.5+02:00', '2024-01-01T00:00:00.500Z', 0],
      ['2024-01-01T01:59:59.999999+02:00', '2024-01-01T00:00:00Z', -1],
      ['2024-01-01T00:00:00.000001-0530', '2024-01-01T05:30:00Z', 1],
      ['2024-01-01 00:00:00.1', '2024-01-01T00:00:00.10Z', 0],
      ['2026-01-02T00:00:00Z', '2026-01-01T23:00:00+00:00', 1],
      ['2026-01-02', '2026-01-01T23:59:59.999999999Z', 1],
      ['0099-12-31T23:59:59Z', '0100-01-01T00:00:00Z', -1],
    ])) {
      expect([a, b, actual, reverse]).toEqual([a, b, expected, -expected || 0]);
    }
  });

  it('orders decimal text exactly: integers past 2^53, nanosecond epochs, fractions, signs, exponents', () => {
    for (const { a, b, expected, actual, reverse } of order([
      ['9007199254740993', '9007199254740992', 1],
      ['1704067200000000001', '1704067200000000000', 1],
      ['123456789012345678901234567890', '123456789012345678901234567889', 1],
      ['10', '9', 1],
      ['-10', '-9', -1],
      ['-5', '3', -1],
      ['007', '7', 0],
      ['1.50', '1.5', 0],
      ['0.000', '-0', 0],
      ['0.1', '0.09999999999999999999', 1],
      ['1e3', '1000', 0],
      ['1.5e-7', '0.00000015', 0],
      ['1e+21', '999999999999999999999', 1],
    ])) {
      expect([a, b, actual, reverse]).toEqual([a, b, expected, -expected || 0]);
    }
  });

  it('orders other dates by time and anything else as text', () => {
    expect(compareCursor('Wed, 02 Dec 2026 12:00:05 GMT', 'Thu, 01 Jan 2026 00:00:00 GMT')).toBe(1);
    expect(compareCursor('b', 'a')).toBe(1);
    expect(compareCursor('abc', 'abc')).toBe(0);
  });

  it('gives the watermark order: a tie in time goes to the key, compared the same way', () => {
    const at = (cursor: string, key: string) => ({ cursor, key });
    expect(compareWatermarks(at('2024-01-01T00:00:00.000300Z', '2'), at('2024-01-01T00:00:00Z', '1'))).toBe(1);
    expect(compareWatermarks(at('2024-01-01T00:00:00+00:00', '2'), at('2024-01-01T00:00:00Z', '10'))).toBe(-1);
    expect(compareWatermarks(at('5', '9007199254740993'), at('5', '9007199254740992'))).toBe(1);
    expect(compareWatermarks(at('5', 'a'), at('5', 'a'))).toBe(0);
  });
});
