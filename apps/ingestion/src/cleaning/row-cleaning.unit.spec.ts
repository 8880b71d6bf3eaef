import { type DatasetColumnSpec, SourceCleaning, TIMESTAMP_FORMS } from '@keel/contracts';
import { describe, expect, it } from 'vitest';
import { CleanTable } from './clean-table';
import { castValue, DedupeIndex, fieldsNeeded, rowCleaner } from './row-cleaning';

const cleaner = (cleaning: object) => rowCleaner(SourceCleaning.parse(cleaning))!;
const kept = (cleaning: object, row: Record<string, unknown>) => {
  const result = cleaner(cleaning)(row);
  if (result.kind !== 'kept') throw new Error(`not kept: ${JSON.stringify(result)}`);
  return { ...result.record };
};

describe('declared cleaning of one row, step by step', () => {
  it('renames fields, all at once (a swap works), refusing a row that also holds another value under the new name', () => {
    expect(kept({ rename: { qty: 'items' } }, { qty: 3, x: 1 })).toEqual({ items: 3, x: 1 });
    expect(kept({ rename: { a: 'b', b: 'a' } }, { a: 1, b: 2 })).toEqual({ a: 2, b: 1 });
    expect(cleaner({ rename: { a: 'b' } })({ a: 1, b: 2 })).toEqual({
      kind: 'refused',
      reason: 'rename: a 1 and b 2 are both present',
    });
    expect(kept({ rename: { a: 'b' } }, { a: 1, b: 1 })).toEqual({ b: 1 });
    expect(kept({ rename: { a: 'b' } }, { b: 2 })).toEqual({ b: 2 });
  });

  it('trims the text of named fields, or of every field', () => {
    expect(kept({ trim: ['a'] }, { a: ' x ', b: ' y ', c: 3 })).toEqual({ a: 'x', b: ' y ', c: 3 });
    expect(kept({ trim: true }, { a: ' x ', b: '\ty\n', c: 3 })).toEqual({ a: 'x', b: 'y', c: 3 });
  });

  it('casts values, leaving missing ones missing, and refuses a row whose value will not convert', () => {
    expect(
      kept({ cast: { n: 'number', i: 'integer', s: 'string', b: 'boolean' } }, { n: ' 2.5', i: '7', s: 12, b: 'Yes' }),
    ).toEqual({
      n: 2.5,
      i: 7,
      s: '12',
      b: true,
    });
    expect(kept({ cast: { n: 'number' } }, { n: '' })).toEqual({ n: '' });
    expect(kept({ cast: { n: 'number' } }, {})).toEqual({});
    expect(cleaner({ cast: { i: 'integer' } })({ i: '7.5' })).toEqual({
      kind: 'refused',
      reason: 'cast: i "7.5" is not an integer',
    });
    expect(cleaner({ cast: { n: 'number' } })({ n: '0x1f' })).toEqual({
      kind: 'refused',
      reason: 'cast: n "0x1f" is not a number',
    });
    expect(cleaner({ cast: { t: 'timestamp' } })({ t: 'soon' })).toEqual({
      kind: 'refused',
      reason: `cast: t "soon" is not a timestamp: write ${TIMESTAMP_FORMS}`,
    });
  });

  it('casts each type as documented', () => {
    expect(castValue('timestamp', 0)).toBe('1970-01-01T00:00:00.000Z');
    // Kept as written: a local time is not moved by this machine's time zone.
    expect(castValue('timestamp', '2026-01-02 03:04')).toBe('2026-01-02 03:04');
    for (const text of ['12', 'user-3', '02/03/2024', '1704067200000'])
      expect(castValue('timestamp', text)).toBeUndefined();
    expect(castValue('boolean', 0)).toBe(false);
    expect(castValue('boolean', 'maybe')).toBeUndefined();
    expect(castValue('number', true)).toBe(1);
    expect(castValue('number', 'Infinity')).toBeUndefined();
    expect(castValue('integer', 2 ** 60)).toBeUndefined();
    expect(castValue('string', { a: 1 })).toBeUndefined();
  });

  it('drops a row missing a value (absent, null or blank) or puts in the default', () => {
    expect(cleaner({ missing: { a: 'drop' } })({ a: '  ' })).toEqual({ kind: 'dropped', by: 'missing' });
    expect(cleaner({ missing: { a: 'drop' } })({ a: null })).toEqual({ kind: 'dropped', by: 'missing' });
    expect(kept({ missing: { a: { default: 'n/a' }, b: { default: 0 } } }, { b: null })).toEqual({ a: 'n/a', b: 0 });
    expect(kept({ missing: { a: 'drop' } }, { a: 0 })).toEqual({ a: 0 });
  });

  it('filters after the other steps, on their results', () => {
    const cleaning = {
      rename: { Amount: 'amount' },
      trim: ['city'],
      cast: { amount: 'number' },
      missing: { city: { default: 'unknown' } },
      filter: "amount > 10 and city != 'test'",
    };
    expect(kept(cleaning, { Amount: '11', city: null })).toEqual({ amount: 11, city: 'unknown' });
    expect(cleaner(cleaning)({ Amount: '11', city: ' test ' })).toEqual({ kind: 'dropped', by: 'filter' });
    expect(cleaner(cleaning)({ Amount: '9', city: 'lyon' })).toEqual({ kind: 'dropped', by: 'filter' });
  });

  it('treats a field named __proto__ as a field', () => {
    const row = JSON.parse('{"__proto__": " x ", "a": 1}') as Record<string, unknown>;
    const result = cleaner({ trim: true, filter: "`__proto__` = 'x'" })(row);
    expect(result.kind).toBe('kept');
  });

  it('has nothing to do without a cleaning', () => {
    expect(rowCleaner(undefined)).toBeUndefined();
  });
});

describe('the fields a cleaning reads', () => {
  it('are the dataset`s columns and those its steps name, by the source`s names (both names of a renamed field)', () => {
    const cleaning = SourceCleaning.parse({
      rename: { Amount: 'amount' },
      trim: ['city'],
      filter: "status = 'ok'",
      dedupe: { key: ['id'] },
    });
    expect([...fieldsNeeded(cleaning, ['amount', 'x'])].sort()).toEqual([
      'Amount',
      'amount',
      'city',
      'id',
      'status',
      'x',
    ]);
  });
});

describe('dedupe by key', () => {
  it('keeps the last row of a key by default, or the first', () => {
    const last = new DedupeIndex(['id'], 'last');
    expect([last.add([1], 0), last.add([2], 1), last.add([1], 2), last.add([1], 3)]).toEqual([-1, -1, 0, 2]);
    const first = new DedupeIndex(['id', 'day'], 'first');
    expect([first.add([1, 'a'], 0), first.add([1, 'b'], 1), first.add([1, 'a'], 2)]).toEqual([-1, -1, 2]);
    // 1 and "1" are different keys (outside the dataset's columns); absent and null are one.
    const typed = new DedupeIndex(['id'], 'last');
    expect([typed.add([1], 0), typed.add(['1'], 1), typed.add([undefined], 2), typed.add([null], 3)]).toEqual([
      -1, -1, -1, 2,
    ]);
  });
});

describe('a version`s rows through cleaning, checks and dedupe (CleanTable)', () => {
  const schema: DatasetColumnSpec[] = [
    { name: 'x', type: 'number', role: 'numeric', nullable: false },
    { name: 'y', type: 'string', role: 'target', nullable: false },
  ];

  it('accounts for every row: kept, dropped by step, or refused with its reason; keeps the last row of a key', () => {
    const rows = new CleanTable(
      schema,
      SourceCleaning.parse({
        rename: { X: 'x' },
        cast: { x: 'number' },
        missing: { y: 'drop' },
        filter: 'x >= 0',
        dedupe: { key: ['id'] },
      }),
    );
    const input = [
      { id: 1, X: '1', y: 'a' },
      { id: 2, X: '-1', y: 'b' }, // filter
      { id: 3, X: '3', y: '' }, // missing
      { id: 4, X: 'four', y: 'd' }, // cast
      { id: 1, X: '5', y: 'e' }, // replaces id 1
      { id: 6, X: '6' }, // missing
      { id: 7, X: '7', y: 7 }, // kept: the check makes 7 "7"
    ];
    input.forEach((row, i) => rows.add(row, `row ${i}`));
    expect(rows.rowsRead).toBe(7);
    expect(rows.dropped).toEqual({ missing: 2, filter: 1, dedupe: 1 });
    expect(rows.rejected).toBe(1);
    expect(rows.rejections).toEqual(['row 3: cast: x "four" is not a number']);
    expect(rows.goodRows).toBe(2);
    expect(rows.table()).toEqual({
      rowCount: 2,
      columns: [
        { name: 'x', type: 'number', values: [5, 7] },
        { name: 'y', type: 'string', values: ['e', '7'] },
      ],
    });
  });

  it('dedupes by the values the version stores: "1", "1.0" and 1 in a number column are one key', () => {
    const rows = new CleanTable(schema, SourceCleaning.parse({ dedupe: { key: ['x'] } }));
    rows.add({ x: '1', y: 'a' }, 'row 0');
    rows.add({ x: '1.0', y: 'b' }, 'row 1');
    rows.add({ x: 1, y: 'c' }, 'row 2');
    expect(rows.dropped.dedupe).toBe(2);
    expect(rows.table().columns[1].values).toEqual(['c']);
  });

  it('runs the checks after the cleaning: a refused row never displaces a good one', () => {
    const rows = new CleanTable(schema, SourceCleaning.parse({ dedupe: { key: ['id'] } }));
    rows.add({ id: 1, x: 1, y: 'a' }, 'row 0');
    rows.add({ id: 1, x: 'bad', y: 'b' }, 'row 1');
    expect(rows.rejections).toEqual(['row 1: x "bad" is not a number']);
    expect(rows.table().columns[1].values).toEqual(['a']);
  });

  it('without a cleaning, checks rows as before', () => {
    const rows = new CleanTable(schema, undefined);
    rows.add({ x: '2', y: 'a', extra: 1 }, 'row 0');
    rows.add({ x: 2 }, 'row 1');
    expect(rows.rejections).toEqual(['row 1: y is missing (target)']);
    expect(rows.dropped).toEqual({ missing: 0, filter: 0, dedupe: 0 });
    expect(rows.table()).toEqual({
      rowCount: 1,
      columns: [
        { name: 'x', type: 'number', values: [2] },
        { name: 'y', type: 'string', values: ['a'] },
      ],
    });
  });

  it('is deterministic: the same rows give the same table', () => {
    const cleaning = SourceCleaning.parse({ trim: true, dedupe: { key: ['x'] } });
    const run = () => {
      const rows = new CleanTable(schema, cleaning);
      for (let i = 0; i < 100; i++) rows.add({ x: i % 7, y: ` ${i} ` }, `row ${i}`);
      return rows.table();
    };
    expect(run()).toEqual(run());
    expect(run().rowCount).toBe(7);
  });
});
