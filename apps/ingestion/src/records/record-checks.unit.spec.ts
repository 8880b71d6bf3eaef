import { type DatasetColumnSpec, datasetSchema, type PipelineSpecV1, TIMESTAMP_FORMS } from '@keel/contracts';
import { parsePipelineSpec } from '@keel/pipelines';
import { describe, expect, it } from 'vitest';
import {
  checkColumns,
  checkColumnsOf,
  checkRecord,
  checkRecords,
  checkRow,
  checkRows,
  codedColumns,
  decodedColumn,
  isDecimal,
  MAX_NUMBER_CHARS,
  MAX_TEXT_CHARS,
} from './record-checks';

const spec: PipelineSpecV1 = parsePipelineSpec({
  apiVersion: 'keel/v1',
  kind: 'Pipeline',
  id: 'unit-pipeline',
  task: 'binary-classification',
  target: { column: 'income', positive: '>50K' },
  protectedAttributes: ['sex', 'race'],
  timeColumn: 'ts',
  features: [
    { name: 'age', type: 'numeric', nullable: false },
    { name: 'hours', type: 'numeric' },
    { name: 'sex', type: 'categorical' },
  ],
  training: { algorithms: ['gbdt'], primaryMetric: 'auc' },
});

const good = { age: 39, hours: '40', sex: 'Male', race: 'White', income: '<=50K', ts: '2026-01-01T00:00:00Z' };

describe('datasetSchema', () => {
  it('types features, target, time column and extra protected attributes, with their roles', () => {
    expect(datasetSchema(spec)).toEqual([
      { name: 'age', type: 'number', role: 'numeric', nullable: false },
      { name: 'hours', type: 'number', role: 'numeric', nullable: true },
      { name: 'sex', type: 'string', role: 'categorical', nullable: true },
      { name: 'income', type: 'string', role: 'target', nullable: false },
      { name: 'ts', type: 'timestamp', role: 'time', nullable: false },
      { name: 'race', type: 'string', role: 'attribute', nullable: true },
    ]);
  });

  it('types a regression target as a number', () => {
    const regression = { ...spec, task: 'regression' as const };
    expect(datasetSchema(regression).find((c) => c.name === 'income')?.type).toBe('number');
  });
});

describe('checkRecords', () => {
  it('keeps good records, converting numeric strings and dropping undeclared columns', () => {
    // given a record with a numeric string and an extra column
    const { good: clean, bad } = checkRecords(spec, [{ ...good, extra: 'x' }]);
    // then it is kept with numbers as numbers and only the dataset columns
    expect(bad).toEqual([]);
    expect(clean).toEqual([
      { age: 39, hours: 40, sex: 'Male', income: '<=50K', ts: '2026-01-01T00:00:00Z', race: 'White' },
    ]);
  });

  it('accepts missing nullable values and stringifies categorical scalars', () => {
    const { good: clean } = checkRecords(spec, [{ ...good, hours: null, sex: true, race: undefined }]);
    expect(clean[0]).toMatchObject({ hours: null, sex: 'true', race: null });
  });

  it('reports each bad record with its index, column and problem, and keeps the good ones', () => {
    // given a batch with good and bad records
    const records = [
      good,
      { ...good, age: 'forty' },
      { ...good, income: null },
      { ...good, age: undefined },
      { ...good, hours: '0x10' },
      { ...good, ts: 'yesterday-ish' },
      { ...good, ts: undefined },
      good,
    ];
    // when checked
    const { good: clean, bad } = checkRecords(spec, records);
    // then the good ones pass and every bad one says why
    expect(clean).toHaveLength(2);
    expect(bad.map((b) => b.reason)).toEqual([
      'record 1: age "forty" is not a number',
      'record 2: income is missing (target)',
      'record 3: age is missing',
      'record 4: hours "0x10" is not a number',
      `record 5: ts "yesterday-ish" is not a timestamp: write ${TIMESTAMP_FORMS}`,
      'record 6: ts is missing (time column)',
    ]);
    expect(bad[0]).toMatchObject({ index: 1, record: records[1] });
  });

  it('takes ISO 8601 times only: ids, digits in text and DD/MM dates are refused naming the value and the forms', () => {
    const times = ['12', 'user-3', 'id 5', '02/03/2024', '1704067200000'];
    const { good: clean, bad } = checkRecords(spec, [
      ...times.map((ts) => ({ ...good, ts })),
      { ...good, ts: '2024-03-02 10:00:00.123456+01' },
      { ...good, ts: 1704067200000 },
    ]);
    expect(bad.map((b) => b.reason)).toEqual(
      times.map((ts, i) => `record ${i}: ts ${JSON.stringify(ts)} is not a timestamp: write ${TIMESTAMP_FORMS}`),
    );
    // Text is kept as written; a number is epoch milliseconds.
    expect(clean.map((record) => record.ts)).toEqual(['2024-03-02 10:00:00.123456+01', '2024-01-01T00:00:00.000Z']);
  });

  it('refuses a number in a timestamp column that is no date (past ±8.64e15 ms), keeping the others', () => {
    const { good: clean, bad } = checkRecords(spec, [
      { ...good, ts: 1e308 },
      { ...good, ts: 2 ** 53 },
      { ...good, ts: 8.64e15 },
    ]);
    expect(bad.map((b) => b.reason)).toEqual([
      'record 0: ts 1e+308 is not a timestamp',
      'record 1: ts 9007199254740992 is not a timestamp',
    ]);
    expect(clean.map((record) => record.ts)).toEqual(['+275760-09-13T00:00:00.000Z']);
  });

  it('rejects non-scalar values and booleans in numeric columns, and labels lines when asked', () => {
    const { bad } = checkRecords(
      spec,
      [
        { ...good, sex: { a: 1 } },
        { ...good, hours: true },
        { ...good, hours: '1e999' },
      ],
      (i) => `line ${i + 2}`,
    );
    expect(bad.map((b) => b.reason)).toEqual([
      'line 2: sex {"a":1} is not a scalar',
      'line 3: hours true is not a number',
      'line 4: hours "1e999" is not a finite number',
    ]);
  });
});

describe('checkColumns', () => {
  it('keeps what checkRows keeps, by column, with the same bad records and reasons', () => {
    // given good and bad records, a bad one failing in its last column after good cells were taken
    const records = [
      good,
      { ...good, age: 'forty' },
      { ...good, hours: '7', ts: 'never' },
      { ...good, age: -0, hours: null, sex: 3 },
      { ...good, income: undefined },
      good,
    ];
    // when checked by column and by row
    const byColumn = checkColumns(spec, records, (i) => `line ${i}`);
    const byRow = checkRows(spec, records, (i) => `line ${i}`);
    // then the columns are the rows transposed (-0 as 0, as their staged text holds it), and the bad records the same
    expect(byColumn.good.columns).toEqual(byRow.good.columns);
    const zeroed = (cell: unknown) => (cell === 0 ? 0 : cell);
    expect(byColumn.good.values).toEqual(
      byRow.good.columns.map((_, c) => byRow.good.rows.map((row) => zeroed(row[c]))),
    );
    expect(Object.is(byColumn.good.values[0][1], 0)).toBe(true);
    expect(byColumn.good.values.every((column) => column.length === 3)).toBe(true);
    expect(byColumn.bad).toEqual(byRow.bad);
    expect(byColumn.bad.map((b) => b.index)).toEqual([1, 2, 4]);
  });

  it('keeps every column, empty, when no record passes', () => {
    const { good: none } = checkColumns(spec, [{ ...good, age: null }]);
    expect(none.values).toEqual(none.columns.map(() => []));
  });
});

describe('codedColumns', () => {
  const schema: DatasetColumnSpec[] = [
    { name: 'age', type: 'number', role: 'numeric', nullable: true },
    { name: 'sex', type: 'string', role: 'categorical', nullable: true },
    { name: 'id', type: 'string', role: 'attribute', nullable: false },
    { name: 'ts', type: 'timestamp', role: 'time', nullable: false },
  ];
  const columns = {
    columns: ['age', 'sex', 'id', 'ts'],
    values: [
      [39, 50, null, 41],
      ['Male', null, 'Male', null],
      ['a', 'b', 'c', 'd'],
      ['2026-01-01', '2026-01-01', '2026-01-01', '2026-01-01'],
    ],
  };

  it('codes string columns of few distinct cells (null among them), and leaves the others as they are', () => {
    const coded = codedColumns(schema, columns);
    expect(coded).toEqual({
      columns: columns.columns,
      coded: [
        [39, 50, null, 41],
        { dictionary: ['Male', null], codes: [0, 1, 0, 1] },
        ['a', 'b', 'c', 'd'],
        ['2026-01-01', '2026-01-01', '2026-01-01', '2026-01-01'],
      ],
      rows: 4,
    });
    // the staged text parses back to the same cells, column by column
    const parsed = JSON.parse(JSON.stringify(coded)) as typeof coded;
    expect(parsed.coded.map((column) => decodedColumn(column, parsed.rows))).toEqual(columns.values);
  });

  it('fails on a coded column that does not fit: a code of no entry, or the wrong number of cells', () => {
    expect(() => decodedColumn({ dictionary: ['a'], codes: [0, 1] }, 2)).toThrow(/code 1 is no entry/);
    expect(() => decodedColumn({ dictionary: ['a'], codes: [0, 0.5] }, 2)).toThrow(/no entry/);
    expect(() => decodedColumn({ dictionary: ['a'], codes: [0, '0' as never] }, 2)).toThrow(/no entry/);
    expect(() => decodedColumn({ dictionary: ['a'], codes: [0] }, 2)).toThrow(/1 codes, not 2/);
    expect(() => decodedColumn(['a'], 2)).toThrow(/1 cells, not 2/);
  });
});

describe('oversized values', () => {
  // An upstream record once held 100,000 digits and a letter in a numeric field; the decimal check backtracked
  // through every split of the digit run (quadratic) and held the event loop for about a minute.
  const hundredThousandDigits = '1'.repeat(100_000);

  it('checks decimal notation in linear time, even on a long digit run that fails at its end', () => {
    expect(isDecimal(`${hundredThousandDigits}x`)).toBe(false);
    expect(isDecimal(`${hundredThousandDigits}.`)).toBe(true);
    expect(isDecimal(`.${hundredThousandDigits}e`)).toBe(false);
    for (const text of ['0', '-1', '+2.', '.5', '3.25', '1e3', '-4.5E-2', '007']) expect(isDecimal(text)).toBe(true);
    for (const text of ['', '.', '-', 'e3', '1e', '1.2.3', '0x1f', 'Infinity', '1 2']) {
      expect(isDecimal(text)).toBe(false);
    }
  });

  it('dead-letters a record whose numeric field is longer than a number can be, quoting none of it', () => {
    // given the incident's record, between two good ones
    const records = [good, { ...good, age: `${hundredThousandDigits}x` }, good];
    // when checked
    const { good: clean, bad } = checkRecords(spec, records);
    // then only that record is refused, with a short reason naming the column and the limit
    expect(clean).toHaveLength(2);
    expect(bad.map((b) => b.reason)).toEqual([
      `record 1: age has 100001 characters, more than the ${MAX_NUMBER_CHARS} a number may have`,
    ]);
  });

  it('bounds text columns too, and clips long values quoted in reasons', () => {
    const { bad } = checkRecords(spec, [
      { ...good, sex: 'x'.repeat(MAX_TEXT_CHARS + 1) },
      { ...good, sex: 'x'.repeat(MAX_TEXT_CHARS) },
      { ...good, hours: 'y'.repeat(MAX_NUMBER_CHARS) },
    ]);
    expect(bad.map((b) => b.reason)).toEqual([
      `record 0: sex has ${MAX_TEXT_CHARS + 1} characters, more than the ${MAX_TEXT_CHARS} a value may have`,
      `record 2: hours "${'y'.repeat(40)}…" is not a number`,
    ]);
  });
});

describe('columns named like members of Object.prototype', () => {
  // A record is read for its own keys only: one without such a column inherits a function (or, for `__proto__`, the
  // prototype itself), which is no value of it. Records are parsed from JSON, which makes `__proto__` an own key.
  const names = ['constructor', 'toString', '__proto__', 'hasOwnProperty'];
  const schemaWith = (name: string): DatasetColumnSpec[] => [
    { name: 'age', type: 'number', role: 'numeric', nullable: true },
    { name, type: 'string', role: 'categorical', nullable: true },
    { name: `${name}_required`, type: 'string', role: 'target', nullable: false },
  ];
  const parsed = (text: string) => JSON.parse(text) as Record<string, unknown>;

  for (const name of names) {
    it(`keeps a present ${name} column, as given`, () => {
      const schema = schemaWith(name);
      const record = parsed(`{"age":1,"${name}":"x","${name}_required":" y"}`);
      expect(checkColumnsOf(schema, [record])).toEqual({
        good: { columns: ['age', name, `${name}_required`], values: [[1], ['x'], [' y']] },
        bad: [],
      });
      expect(checkRow(schema, record)).toEqual({ ok: true, row: [1, 'x', ' y'] });
      const checked = checkRecord(schema, record);
      expect(checked.ok && Object.entries(checked.record)).toEqual([
        ['age', 1],
        [name, 'x'],
        [`${name}_required`, ' y'],
      ]);
    });

    it(`reads a missing nullable ${name} column as null (no throw, no dead letter)`, () => {
      const schema = schemaWith(name);
      const record = parsed(`{"age":1,"${name}_required":"y"}`);
      expect(checkColumnsOf(schema, [record])).toEqual({
        good: { columns: ['age', name, `${name}_required`], values: [[1], [null], ['y']] },
        bad: [],
      });
      expect(checkRow(schema, record)).toEqual({ ok: true, row: [1, null, 'y'] });
      const checked = checkRecord(schema, record);
      expect(checked.ok && Object.hasOwn(checked.record, name) && checked.record[name]).toBeNull();
    });

    it(`dead-letters a record missing a required ${name} column, saying so`, () => {
      const schema: DatasetColumnSpec[] = [
        { name: 'age', type: 'number', role: 'numeric', nullable: true },
        { name, type: 'string', role: 'target', nullable: false },
      ];
      const record = parsed('{"age":1}');
      const { good, bad } = checkColumnsOf(schema, [record, parsed(`{"age":2,"${name}":"y"}`)]);
      expect(bad.map((b) => b.reason)).toEqual([`record 0: ${name} is missing (target)`]);
      expect(good.values).toEqual([[2], ['y']]);
      expect(checkRow(schema, record)).toEqual({ ok: false, reason: `${name} is missing (target)` });
      expect(checkRecord(schema, record)).toEqual({ ok: false, reason: `${name} is missing (target)` });
    });
  }

  it('says why an object with a function member is not a scalar (its JSON text is nothing)', () => {
    const schema: DatasetColumnSpec[] = [{ name: 'y', type: 'string', role: 'target', nullable: false }];
    expect(checkRow(schema, { y: () => 1 })).toEqual({ ok: false, reason: 'y undefined is not a scalar' });
  });
});
