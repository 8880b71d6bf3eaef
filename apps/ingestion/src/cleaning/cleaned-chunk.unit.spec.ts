import { datasetSchema, type PipelineSpecV1, SourceCleaning } from '@keel/contracts';
import { parsePipelineSpec } from '@keel/pipelines';
import { describe, expect, it } from 'vitest';
import { framedCopyData } from '../sources/copy-out';
import { encodePgChunk } from '../sources/pg-chunk.task';
import { copyTextRecords, encodeCleanedRows } from './cleaned-chunk';

const spec: PipelineSpecV1 = parsePipelineSpec({
  apiVersion: 'keel/v1',
  kind: 'Pipeline',
  id: 'pg-clean',
  task: 'regression',
  target: { column: 'y' },
  timeColumn: 'at',
  features: [
    { name: 'x', type: 'numeric' },
    { name: 'color', type: 'categorical' },
  ],
  training: { algorithms: ['linear-regression'], primaryMetric: 'rmse' },
});

// id int8, at timestamptz, x float8, color text, y numeric, customer text.
const fields = [
  { name: 'id', typeId: 20 },
  { name: 'at', typeId: 1184 },
  { name: 'x', typeId: 701 },
  { name: 'color', typeId: 25 },
  { name: 'y', typeId: 1700 },
  { name: 'customer', typeId: 25 },
];
const lines = [
  '1\t2026-01-01 00:00:00.123456+00\t1.5\t red \t2.50\tc1',
  '2\t2026-01-01 01:00:00+01\t-0.25\ttab\\there\t3\tc2',
  '3\t2026-01-02 00:00:00+00\t\\N\tgreen\t4.75\tc1',
  '4\t2026-01-03 00:00:00+00\t7\tblue\t\\N\tc3',
  '5\t2026-01-04 00:00:00+00\t2\ttest\t1\tc4',
];
/** A chunk as the copy gives it (CopyData messages); a fresh one each time, since decoding overwrites its headers. */
const chunkBytes = () => framedCopyData(lines);
const schema = datasetSchema(spec);
const chunk = (cleaning: object) =>
  encodeCleanedRows(spec.id, schema, SourceCleaning.parse(cleaning), copyTextRecords(chunkBytes(), fields, 0), 100);

describe('a PostgreSQL chunk through a declared cleaning', () => {
  it('reads every field of COPY text as a query result would, labelled by the key', () => {
    const rows = [...copyTextRecords(chunkBytes(), fields, 0)];
    expect(rows).toHaveLength(5);
    expect(rows[1]).toEqual({
      label: 'row 2',
      record: { id: '2', at: '2026-01-01T00:00:00.000Z', x: -0.25, color: 'tab\there', y: '3', customer: 'c2' },
      // The COPY fields as sent (still escaped): what a dead row keeps of a refused row.
      cells: ['2', '2026-01-01 01:00:00+01', '-0.25', 'tab\\there', '3', 'c2'],
    });
    expect(rows[2].record.x).toBeNull();
  });

  it('gives the bytes and refusals of the chunk worker`s own path when its steps change nothing', () => {
    const plain = encodePgChunk({
      pipelineId: spec.id,
      schema,
      fields,
      keyField: 0,
      bytes: chunkBytes(),
      maxRejections: 100,
    });
    const cleaned = chunk({ cast: { customer: 'string' } });
    expect(cleaned.goodRows).toBe(plain.goodRows);
    expect(cleaned.rejections).toEqual(plain.rejections);
    expect(cleaned.sha256).toBe(plain.sha256);
    expect(Buffer.from(cleaned.parquet).equals(Buffer.from(plain.parquet))).toBe(true);
  });

  it('applies each step and counts what it drops; the same chunk gives the same bytes', () => {
    const cleaning = {
      trim: ['color'],
      missing: { x: { default: 0 }, y: 'drop' },
      filter: "color != 'test'",
      dedupe: { key: ['customer'] },
    };
    const once = chunk(cleaning);
    expect(once).toMatchObject({
      rowsRead: 5,
      goodRows: 2,
      rejected: 0,
      dropped: { missing: 1, filter: 1, dedupe: 1 },
    });
    expect(chunk(cleaning).sha256).toBe(once.sha256);
    // the chunk worker's entry point takes this path for a source with a cleaning
    const input = { pipelineId: spec.id, schema, fields, keyField: 0, bytes: chunkBytes(), maxRejections: 100 };
    expect(encodePgChunk({ ...input, cleaning: SourceCleaning.parse(cleaning) })).toEqual(once);
    expect(chunk({ ...cleaning, dedupe: { key: ['customer'], keep: 'first' } }).sha256).not.toBe(once.sha256);
  });
});
