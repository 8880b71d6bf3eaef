import { tableFromRecords } from '@keel/datasets';
import { describe, expect, it } from 'vitest';
import { type DatasetColumnSpec } from '@keel/contracts';
import { datasetParquet } from '../datasets/dataset-parquet';
import { checkColumnsOf, codedColumns } from '../records/record-checks';
import { forgetCheckedRows, rememberCheckedRows } from './checked-rows-cache';
import { cutEncodeTask, stagedTable } from './cut-encode.task';

const schema = [
  { name: 'age', type: 'number' as const },
  { name: 'sex', type: 'string' as const },
  { name: 'income', type: 'string' as const },
];
const records = [
  { age: 39, sex: 'Male', income: '<=50K' },
  { age: null, sex: 'Female', income: '>50K' },
  { age: 50, sex: null, income: '<=50K' },
];

describe('stagedTable', () => {
  it('reads a column named like a member of Object.prototype that staged records lack as null', () => {
    const named = [
      { name: 'constructor', type: 'string' as const },
      { name: 'toString', type: 'string' as const },
    ];
    const table = stagedTable(named, [{ recordsJson: JSON.stringify([{ toString: 'a' }, {}]) }]);
    expect(table.columns.map((column) => column.values)).toEqual([
      [null, null],
      ['a', null],
    ]);
  });

  it('reads rows and records staged before rows the same way, in the order staged', () => {
    const rows = { columns: ['age', 'sex', 'income'], rows: records.slice(1).map((r) => [r.age, r.sex, r.income]) };
    const table = stagedTable(schema, [
      { recordsJson: JSON.stringify(records.slice(0, 1)) },
      { rowsJson: JSON.stringify(rows) },
    ]);
    expect(table).toEqual(tableFromRecords(records, schema));
  });

  it('reads columns, and rows and records staged before them, the same way, in the order staged', () => {
    const columns = { columns: ['age', 'sex', 'income'], values: [[null], ['Female'], ['>50K']] };
    const rows = { columns: ['age', 'sex', 'income'], rows: [[50, null, '<=50K']] };
    const table = stagedTable(schema, [
      { recordsJson: JSON.stringify(records.slice(0, 1)) },
      { rowsJson: JSON.stringify(columns) },
      { rowsJson: JSON.stringify(rows) },
    ]);
    expect(table).toEqual(tableFromRecords(records, schema));
  });

  it('reads coded columns, and the forms staged before them, the same way, in the order staged', () => {
    const coded = {
      columns: ['income', 'extra', 'age', 'sex'],
      coded: [{ dictionary: ['>50K'], codes: [0] }, [1], [null], ['Female']],
      rows: 1,
    };
    const columns = { columns: ['age', 'sex', 'income'], values: [[50], [null], ['<=50K']] };
    const table = stagedTable(schema, [
      { recordsJson: JSON.stringify(records.slice(0, 1)) },
      { rowsJson: JSON.stringify(coded) },
      { rowsJson: JSON.stringify(columns) },
    ]);
    expect(table).toEqual(tableFromRecords(records, schema));
  });

  it('fails a cut of coded columns that do not fit their names', () => {
    const coded = { columns: ['age', 'sex'], coded: [[1]], rows: 1 };
    expect(() => stagedTable(schema, [{ rowsJson: JSON.stringify(coded) }])).toThrow(/1 columns of cells/);
  });

  it('maps staged columns to the schema at the cut by name: missing ones are null, extra ones dropped', () => {
    const rows = { columns: ['income', 'extra', 'age'], rows: [['>50K', 1, 41]] };
    const columns = {
      columns: ['income', 'extra', 'age'],
      values: [
        ['<=50K', '>50K'],
        [1, 2],
        [30, 31],
      ],
    };
    const table = stagedTable(schema, [{ rowsJson: JSON.stringify(rows) }, { rowsJson: JSON.stringify(columns) }]);
    expect(table.columns.map((c) => c.values)).toEqual([
      [41, 30, 31],
      [null, null, null],
      ['>50K', '<=50K', '>50K'],
    ]);
  });
});

describe('coded columns round trip', () => {
  // Values a dictionary could confuse: texts named like Object.prototype members or like numbers and null, Unicode
  // forms, a lone surrogate; columns named `constructor` and `__proto__`.
  const named: DatasetColumnSpec[] = [
    { name: 'age', type: 'number', role: 'numeric', nullable: true },
    { name: 'cat', type: 'string', role: 'categorical', nullable: true },
    { name: 'constructor', type: 'string', role: 'categorical', nullable: true },
    { name: '__proto__', type: 'string', role: 'categorical', nullable: true },
    { name: 'y', type: 'string', role: 'target', nullable: false },
  ];
  const cut = named.map(({ name, type }) => ({ name, type }));
  const tricky = [
    '__proto__',
    'constructor',
    'toString',
    '1',
    '-0',
    'NaN',
    'é',
    'e\u0301',
    '😀',
    '\ud800',
    ' x',
    'null',
  ];

  it('keeps every value through coding, the staged text and the cut, as the columns form does', () => {
    const records = Array.from({ length: 200 }, (_, i) => ({
      age: i % 3 === 0 ? -0 : i,
      cat: i % 5 === 0 ? null : i % 7 === 0 ? '' : tricky[i % tricky.length],
      constructor: tricky[(i * 3) % tricky.length],
      ['__proto__']: 'p',
      y: i % 2 ? 'a' : 'b',
    }));
    const parsed = JSON.parse(JSON.stringify(records)) as Record<string, unknown>[];
    const { good, bad } = checkColumnsOf(named, parsed);
    expect(bad).toEqual([]);
    const coded = codedColumns(named, good);
    const asColumns = stagedTable(cut, [{ rowsJson: JSON.stringify(good) }]);
    expect(stagedTable(cut, [{ rowsJson: JSON.stringify(coded) }])).toEqual(asColumns);
    // and from the staging thread's cache (no parse)
    const text = JSON.stringify(coded);
    rememberCheckedRows(text, coded);
    expect(stagedTable(cut, [{ rowsJson: text }])).toEqual(asColumns);
    forgetCheckedRows();
  });
});

describe('cutEncodeTask', () => {
  it('encodes the bytes that the records themselves encode to, and names them by their sha256', async () => {
    const payloads = [
      { rowsJson: JSON.stringify({ columns: ['age', 'sex', 'income'], rows: records.slice(0, 2).map(Object.values) }) },
      { rowsJson: JSON.stringify({ columns: ['age', 'sex', 'income'], values: [[50], [null], ['<=50K']] }) },
    ];
    const result = (await cutEncodeTask.run(
      { pipelineId: 'adult', schema, payloads },
      { progress: () => undefined },
    )) as {
      value: { parquet: Uint8Array; rowCount: number; sha256: string };
    };
    const expected = datasetParquet({ id: 'adult' }, tableFromRecords(records, schema));
    expect(Buffer.from(result.value.parquet).equals(expected)).toBe(true);
    expect(result.value.rowCount).toBe(3);
    expect(result.value.sha256).toMatch(/^[0-9a-f]{64}$/);
  });
});
