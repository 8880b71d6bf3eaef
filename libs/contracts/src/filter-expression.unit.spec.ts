import { describe, expect, it } from 'vitest';
import {
  filterColumns,
  filterKeeps,
  FilterSyntaxError,
  MAX_FILTER_CHARS,
  MAX_FILTER_DEPTH,
  parseFilter,
} from './filter-expression';

const keeps = (expression: string, row: Record<string, unknown>) => filterKeeps(parseFilter(expression), row);

/** Where and why an expression does not parse. */
function failure(expression: string): { position: number; problem: string } {
  try {
    parseFilter(expression);
  } catch (error) {
    if (error instanceof FilterSyntaxError) return { position: error.position, problem: error.problem };
    throw error;
  }
  throw new Error(`${expression} parsed`);
}

describe('filter expressions: parsing', () => {
  it('parses comparisons, and/or/not with SQL precedence, in-lists, is null and literals into a flat tree', () => {
    expect(parseFilter("a = 1 and b != 'x' or not c")).toEqual({
      kind: 'or',
      items: [
        {
          kind: 'and',
          items: [
            {
              kind: 'compare',
              op: '=',
              left: { kind: 'column', name: 'a', at: 0 },
              right: { kind: 'literal', value: 1 },
            },
            {
              kind: 'compare',
              op: '!=',
              left: { kind: 'column', name: 'b', at: 10 },
              right: { kind: 'literal', value: 'x' },
            },
          ],
        },
        { kind: 'not', item: { kind: 'column', name: 'c', at: 26 } },
      ],
    });
    expect(parseFilter('a and b and c and d')).toMatchObject({ kind: 'and', items: { length: 4 } });
    expect(parseFilter('x NOT IN [1, -2.5, "q", null, TRUE]')).toEqual({
      kind: 'in',
      item: { kind: 'column', name: 'x', at: 0 },
      values: [1, -2.5, 'q', null, true],
      negated: true,
    });
    expect(parseFilter('`odd name-1` is not null')).toEqual({
      kind: 'is-null',
      item: { kind: 'column', name: 'odd name-1', at: 0 },
      negated: true,
    });
    expect(parseFilter("s = 'it\\'s'")).toMatchObject({ right: { value: "it's" } });
    expect(parseFilter('a <> 1')).toMatchObject({ op: '!=' });
    expect(parseFilter('a == 1')).toMatchObject({ op: '=' });
    expect(filterColumns(parseFilter('(a > b) and a in (1) or `c d` is null'))).toEqual([
      { name: 'a', at: 1 },
      { name: 'b', at: 5 },
      { name: 'c d', at: 24 },
    ]);
  });

  it('says where an expression goes wrong', () => {
    expect(failure('age > ')).toEqual({ position: 6, problem: 'expected a column, a literal or (, found the end' });
    expect(failure('age >> 3')).toEqual({ position: 5, problem: 'expected a column, a literal or (, found ">"' });
    expect(failure("name = 'bob")).toEqual({ position: 7, problem: "the string starting here is not closed with '" });
    expect(failure('a = 1 b = 2')).toEqual({ position: 6, problem: 'expected and, or or the end, found "b"' });
    expect(failure('(a = 1')).toEqual({ position: 6, problem: 'expected ), found the end' });
    expect(failure('a in [1, b]')).toEqual({ position: 9, problem: 'expected a literal in the list, found "b"' });
    expect(failure('a in 1')).toEqual({ position: 5, problem: 'expected [ after "in", found "1"' });
    expect(failure('a is 3')).toEqual({ position: 5, problem: 'expected null after "is", found "3"' });
    expect(failure('a ; 1')).toEqual({ position: 2, problem: 'unexpected character ";"' });
    expect(failure('a = 12abc')).toEqual({ position: 4, problem: '"12a" is not a number' });
    expect(failure('a-1 > 0')).toEqual({ position: 1, problem: 'unexpected character "-"' });
    expect(failure('a = 1 and')).toEqual({ position: 9, problem: 'expected a column, a literal or (, found the end' });
    expect(failure('   ')).toEqual({ position: 0, problem: 'the filter is empty' });
    expect(() => parseFilter('a >')).toThrow('at character 4: expected a column, a literal or (, found the end');
  });

  it('is bounded: length, nesting depth and list size, so no input can exhaust the stack or run long', () => {
    expect(failure(`a = '${'x'.repeat(MAX_FILTER_CHARS)}'`).problem).toBe(`longer than ${MAX_FILTER_CHARS} characters`);
    const deep = (n: number) => `${'('.repeat(n)}a = 1${')'.repeat(n)}`;
    expect(() => parseFilter(deep(MAX_FILTER_DEPTH))).not.toThrow();
    expect(failure(deep(MAX_FILTER_DEPTH + 1))).toEqual({
      position: MAX_FILTER_DEPTH,
      problem: `nested more than ${MAX_FILTER_DEPTH} levels deep`,
    });
    expect(failure(`${'not '.repeat(MAX_FILTER_DEPTH + 1)}a`).problem).toMatch(/nested more than/);
    // 200 operands of one and, within the length bound: a flat list, evaluated without recursion per item.
    const long = Array.from({ length: 200 }, (_, i) => `c${i}`).join(' and ');
    expect(keeps(long, Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`c${i}`, true])))).toBe(true);
    expect(failure(`a in [${Array.from({ length: 257 }, () => '1').join(',')}]`).problem).toBe(
      'a list holds at most 256 values',
    );
  });

  it('answers any input, however garbled, with a tree or a FilterSyntaxError, never another error', () => {
    const pieces = [
      'a',
      '1',
      "'s'",
      '(',
      ')',
      '[',
      ']',
      ',',
      'and',
      'or',
      'not',
      'in',
      'is',
      'null',
      '=',
      '<',
      '-',
      '`',
    ];
    let seed = 7;
    const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    for (let i = 0; i < 2_000; i++) {
      const text = Array.from(
        { length: 1 + Math.floor(random() * 40) },
        () => pieces[Math.floor(random() * pieces.length)],
      ).join(' ');
      try {
        filterKeeps(parseFilter(text), { a: 1 });
      } catch (error) {
        expect(error).toBeInstanceOf(FilterSyntaxError);
      }
    }
    expect(failure('('.repeat(MAX_FILTER_CHARS)).problem).toMatch(/nested more than/);
  });

  it('runs no code: names are only ever looked up as the row`s own fields', () => {
    expect(keeps('constructor is null and __proto__ is null and toString is null', {})).toBe(true);
    expect(() => parseFilter('process.exit(1)')).toThrow(FilterSyntaxError);
    expect(() => parseFilter('a = `x` + 1')).toThrow(FilterSyntaxError);
  });
});

describe('filter expressions: evaluation', () => {
  it('reads text as CSV gives it: "true" against a boolean, two fields of decimal text as numbers, quoted literals as text', () => {
    expect(keeps('active = true', { active: 'true' })).toBe(true);
    expect(keeps('active', { active: 'TRUE' })).toBe(true);
    expect(keeps('not active', { active: 'false' })).toBe(true);
    expect(keeps('a < b', { a: '9', b: '10' })).toBe(true);
    expect(keeps("zip = '01234'", { zip: '1234' })).toBe(false);
    expect(keeps("zip in ['01234']", { zip: '01234' })).toBe(true);
  });

  it('keeps in and not in three-valued, as the comparisons they stand for', () => {
    expect(keeps('x not in [1, 2]', { x: 'abc' })).toBe(keeps('x != 1 and x != 2', { x: 'abc' }));
    expect(keeps('x not in [1, 2]', { x: 'abc' })).toBe(false);
    expect(keeps('not (x in [1])', { x: 'abc' })).toBe(false);
    expect(keeps("x in [1, 'abc']", { x: 'abc' })).toBe(true);
  });

  it('refuses literals a number cannot hold exactly, and reads a sign after and/or/not', () => {
    expect(failure('id = 12345678901234567890')).toEqual({
      position: 5,
      problem:
        '12345678901234567890 is beyond the integers a number holds exactly (±2^53); quote it to compare it as text',
    });
    expect(failure('x < 1e400').problem).toBe('1e400 is beyond the range of numbers');
    expect(keeps('a > 0 and -5 < b', { a: 1, b: 0 })).toBe(true);
    expect(keeps('not -5 > b', { b: 0 })).toBe(true);
  });

  it('compares numbers, decimal text with numbers (CSV values are text), strings and booleans', () => {
    expect(keeps('age >= 18', { age: 18 })).toBe(true);
    expect(keeps('age >= 18', { age: '17.5' })).toBe(false);
    expect(keeps('age >= 18', { age: ' 30 ' })).toBe(true);
    expect(keeps("city < 'm'", { city: 'lyon' })).toBe(true);
    expect(keeps('active = true', { active: true })).toBe(true);
    expect(keeps('a = b', { a: 2, b: '2' })).toBe(true);
  });

  it('treats null and values of another kind as unknown, with three-valued and/or/not (SQL)', () => {
    expect(keeps('age > 1', {})).toBe(false);
    expect(keeps('not (age > 1)', {})).toBe(false);
    expect(keeps('age > 1 or true', {})).toBe(true);
    expect(keeps('age > 1 and false', {})).toBe(false);
    expect(keeps('age > 1', { age: 'old' })).toBe(false);
    expect(keeps('not (age > 1)', { age: 'old' })).toBe(false);
    expect(keeps('age is null', { age: null })).toBe(true);
    expect(keeps('age is not null', { age: 0 })).toBe(true);
    // A bare non-boolean value is not true.
    expect(keeps('name', { name: 'x' })).toBe(false);
  });

  it('matches in-lists, with SQL`s null rules', () => {
    expect(keeps("c in ['FR', 'DE']", { c: 'DE' })).toBe(true);
    expect(keeps("c not in ['FR', 'DE']", { c: 'IT' })).toBe(true);
    expect(keeps('n in [1, 2]', { n: '2' })).toBe(true);
    expect(keeps('n in [1, 2]', { n: null })).toBe(false);
    expect(keeps('n not in [1, null]', { n: 3 })).toBe(false);
    expect(keeps('n in [3, null]', { n: 3 })).toBe(true);
  });
});
