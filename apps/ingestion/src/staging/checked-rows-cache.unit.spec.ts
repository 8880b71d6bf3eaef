import { afterEach, describe, expect, it } from 'vitest';
import { forgetCheckedRows, rememberCheckedRows, takeCheckedRows } from './checked-rows-cache';

const rows = (n: number) => ({ columns: ['a', 'b'], rows: Array.from({ length: n }, (_, i) => [i, `v${i}`]) });

afterEach(() => forgetCheckedRows());

describe('checked rows cache', () => {
  it('gives rows back once, by their staged text', () => {
    const one = rows(2);
    rememberCheckedRows(JSON.stringify(one), one);
    expect(takeCheckedRows(JSON.stringify(rows(2)))).toBe(one);
    expect(takeCheckedRows(JSON.stringify(one))).toBeUndefined();
  });

  it('makes room by dropping the oldest entries, and keeps nothing larger than its bound', () => {
    const [first, second, third] = [rows(3), rows(4), rows(5)];
    rememberCheckedRows('first', first, 20);
    rememberCheckedRows('second', second, 20);
    // 6 + 8 cells held; 10 more need the oldest's room
    rememberCheckedRows('third', third, 20);
    rememberCheckedRows('huge', rows(11), 20);
    expect(takeCheckedRows('first')).toBeUndefined();
    expect(takeCheckedRows('second')).toBe(second);
    expect(takeCheckedRows('third')).toBe(third);
    expect(takeCheckedRows('huge')).toBeUndefined();
  });
});
