import { tableFromRecords } from '@keel/datasets';
import { describe, expect, it } from 'vitest';
import { datasetParquet } from '../datasets/dataset-parquet';
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
