import { afterEach, describe, expect, it } from 'vitest';
import { forgetCheckedRows, rememberCheckedRows, STALE_AFTER_MS, takeCheckedRows } from './checked-rows-cache';

const rows = (n: number) => ({
  columns: ['a', 'b'],
  coded: [Array.from({ length: n }, (_, i) => i), { dictionary: ['v'], codes: Array.from({ length: n }, () => 0) }],
  rows: n,
});

afterEach(() => forgetCheckedRows());

describe('checked rows cache', () => {
  it('gives rows back once, by their staged text', () => {
    const one = rows(2);
    rememberCheckedRows(JSON.stringify(one), one);
    expect(takeCheckedRows(JSON.stringify(rows(2)))).toBe(one);
    expect(takeCheckedRows(JSON.stringify(one))).toBeUndefined();
  });

  it('when full, keeps the oldest rows (the next to be cut) unless they are stale, and nothing larger than its bound', () => {
    const [first, second, third] = [rows(3), rows(4), rows(5)];
    rememberCheckedRows('first', first, { maxCells: 20, now: 0 });
    rememberCheckedRows('second', second, { maxCells: 20, now: 1_000 });
    // 6 + 8 cells held: 10 more do not fit, and nothing is stale yet
    rememberCheckedRows('third', third, { maxCells: 20, now: 2_000 });
    rememberCheckedRows('huge', rows(11), { maxCells: 20, now: 2_000 });
    expect(takeCheckedRows('third')).toBeUndefined();
    expect(takeCheckedRows('huge')).toBeUndefined();
    // a minute on, the first is stale and makes room
    rememberCheckedRows('third', third, { maxCells: 20, now: STALE_AFTER_MS + 500 });
    expect(takeCheckedRows('first')).toBeUndefined();
    expect(takeCheckedRows('second')).toBe(second);
    expect(takeCheckedRows('third')).toBe(third);
  });
});
