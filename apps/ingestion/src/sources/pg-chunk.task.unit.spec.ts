import { datasetSchema, type PipelineSpecV1 } from '@keel/contracts';
import { tableFromRecords } from '@keel/datasets';
import { parsePipelineSpec } from '@keel/pipelines';
import { types } from 'pg';
import { describe, expect, it } from 'vitest';
import { datasetParquet } from '../datasets/dataset-parquet';
import { checkRecords } from '../records/record-checks';
import { encodePgChunk } from './pg-chunk.task';
import { copyFieldText, toPulledRow } from './postgres-reader';

const spec: PipelineSpecV1 = parsePipelineSpec({
  apiVersion: 'keel/v1',
  kind: 'Pipeline',
  id: 'pg-rows',
  task: 'regression',
  target: { column: 'y' },
  timeColumn: 'at',
  features: [
    { name: 'x', type: 'numeric' },
    { name: 'color', type: 'categorical' },
    { name: 'flag', type: 'categorical' },
  ],
  training: { algorithms: ['linear-regression'], primaryMetric: 'rmse' },
});

// id int8, at timestamptz, x float8, color text, flag bool, y numeric, then the watermark columns.
const fields = [
  { name: 'id', typeId: 20 },
  { name: 'at', typeId: 1184 },
  { name: 'x', typeId: 701 },
  { name: 'color', typeId: 25 },
  { name: 'flag', typeId: 16 },
  { name: 'y', typeId: 1700 },
  { name: '__keel_cursor', typeId: 25 },
  { name: '__keel_key', typeId: 25 },
];
const lines = [
  '1\t2026-01-01 00:00:00.123456+00\t1.5\tred\tt\t2.50\t2026-01-01 00:00:00.123456+00\t1',
  '2\t2026-01-01 01:00:00+01\t-0.25\ttab\\there\\\\x\tf\t3\t2026-01-01 00:00:00+00\t2',
  '3\t2026-01-02 00:00:00+00\t\\N\tline\\nbreak\t\\N\t4.75\t2026-01-02 00:00:00+00\t3',
  '4\t2026-01-03 00:00:00+00\tNaN\tblue\tt\t1\t2026-01-03 00:00:00+00\t4',
  '5\t2026-01-04 00:00:00+00\t2\tgreen\tf\t\\N\t2026-01-04 00:00:00+00\t5',
];

/** What the cursor path made of the same rows: node-postgres's parsers, toPulledRow, checkRecords. */
function throughRows() {
  const rows = lines.map((line) => {
    const cells = line.split('\t');
    const row: Record<string, unknown> = {};
    fields.forEach((field, i) => {
      const text = copyFieldText(cells[i]);
      row[field.name] =
        text === null ? null : (types.getTypeParser(field.typeId, 'text') as (t: string) => unknown)(text);
    });
    return toPulledRow(row);
  });
  return checkRecords(
    spec,
    rows.map((row) => row.record),
    (index) => `row ${rows[index].watermark.key}`,
  );
}

describe('encodePgChunk', () => {
  it('makes of COPY text the version that reading the rows through a cursor made, and the same rejections', () => {
    const outcome = encodePgChunk({
      pipelineId: spec.id,
      schema: datasetSchema(spec),
      fields,
      bytes: Buffer.from(lines.map((line) => `${line}\n`).join('')),
      maxRejections: 20,
    });
    const { good, bad } = throughRows();
    const schema = datasetSchema(spec).map(({ name, type }) => ({ name, type }));
    const expected = datasetParquet(spec, tableFromRecords(good, schema));
    expect(outcome).toMatchObject({ rowsRead: 5, goodRows: 3, rejected: 2 });
    expect(outcome.rejections).toEqual(bad.map((item) => item.reason));
    expect(outcome.rejections).toEqual(['row 4: x NaN is not a finite number', 'row 5: y is missing (target)']);
    expect(Buffer.from(outcome.parquet).equals(expected)).toBe(true);
    expect(good.map((record) => [record.at, record.color, record.flag])).toEqual([
      ['2026-01-01T00:00:00.123Z', 'red', 'true'],
      ['2026-01-01T00:00:00.000Z', 'tab\there\\x', 'false'],
      ['2026-01-02T00:00:00.000Z', 'line\nbreak', null],
    ]);
  });
});
