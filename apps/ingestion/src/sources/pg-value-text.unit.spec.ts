import { datasetSchema } from '@keel/contracts';
import { readParquet } from '@keel/datasets';
import { parsePipelineSpec } from '@keel/pipelines';
import { describe, expect, it } from 'vitest';
import { encodeCleanedCopyChunk } from '../cleaning/cleaned-chunk';
import { framedCopyData } from './copy-out';
import { encodePgChunk } from './pg-chunk.task';

const spec = parsePipelineSpec({
  apiVersion: 'keel/v1',
  kind: 'Pipeline',
  id: 'pg-types',
  task: 'regression',
  target: { column: 'y' },
  features: [
    { name: 'doc', type: 'categorical' },
    { name: 'raw', type: 'categorical' },
    { name: 'tags', type: 'categorical' },
    { name: 'names', type: 'categorical' },
    { name: 'blob', type: 'categorical' },
    { name: 'mood', type: 'categorical' },
    { name: 'moods', type: 'categorical' },
    { name: 'wait', type: 'categorical' },
    { name: 'score', type: 'numeric' },
  ],
  training: { algorithms: ['linear-regression'], primaryMetric: 'rmse' },
});

// Real type OIDs: int8, jsonb, json, int4[], text[], bytea, an enum and its array (OIDs node-postgres has no parser
// for, as a user type's are), interval, jsonb (read by a number column), float8.
const fields = [
  { name: 'id', typeId: 20 },
  { name: 'doc', typeId: 3802 },
  { name: 'raw', typeId: 114 },
  { name: 'tags', typeId: 1007 },
  { name: 'names', typeId: 1009 },
  { name: 'blob', typeId: 17 },
  { name: 'mood', typeId: 16390 },
  { name: 'moods', typeId: 16389 },
  { name: 'wait', typeId: 1186 },
  { name: 'score', typeId: 3802 },
  { name: 'y', typeId: 701 },
];
// Lines as `COPY ... TO STDOUT` prints them (text format: \N is NULL, a backslash doubled, a tab as \t).
const lines = [
  '1\t{"a": [1, 2], "b": "x,y"}\t{ "kept":  "as sent" }\t{1,2}\t{"a b",NULL,"c\\\\"d"}\t\\\\x00ff\thappy\t{happy,sad}\t1 day 02:00:00\t5\t0.5',
  '2\t"just a string"\tnull\t{}\t{}\t\\\\x\tsad\t{}\t00:00:00\t-1.5e3\t1',
  '3\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t2',
  '4\t{"tab": "a\\\\tb"}\t[1, "\\\\u00e9"]\t{NULL,3}\t{é}\t\\\\x616263\thappy\t{sad}\t-3 mons\t{"n": 1}\t3',
  '5\ttrue\t[]\t{{1,2},{3,4}}\t{""}\t\\\\x0a\tsad\t{NULL}\t1 year\t[5]\t4',
];

const encode = (cleaning?: object) => {
  const input = { pipelineId: spec.id, schema: datasetSchema(spec), fields, keyField: 0, maxRejections: 20 };
  return cleaning
    ? encodeCleanedCopyChunk({ ...input, bytes: framedCopyData(lines) }, cleaning)
    : encodePgChunk({ ...input, bytes: framedCopyData(lines) });
};

async function rowsOf(parquet: Uint8Array): Promise<Record<string, unknown>[]> {
  const table = await readParquet(Buffer.from(parquet));
  return Array.from({ length: table.rowCount }, (_, r) =>
    Object.fromEntries(table.columns.map((column) => [column.name, column.values[r]])),
  );
}

describe('a PostgreSQL pull of json, arrays, bytea, enums and intervals', () => {
  it('gives a string column their text as PostgreSQL prints it, and a number column refuses what is no number', async () => {
    // when the chunk worker reads them into string columns (and jsonb into a number column)
    const outcome = encode();

    // then every row holding values is kept, its values as their text, and only a jsonb that is no number is refused
    expect(outcome.rejections).toEqual([
      'row 4: score "{\\"n\\": 1}" is not a number',
      'row 5: score "[5]" is not a number',
    ]);
    expect(outcome).toMatchObject({ rowsRead: 5, goodRows: 3, rejected: 2 });
    expect(await rowsOf(outcome.parquet)).toEqual([
      {
        doc: '{"a": [1, 2], "b": "x,y"}',
        raw: '{ "kept":  "as sent" }',
        tags: '{1,2}',
        names: '{"a b",NULL,"c\\"d"}',
        blob: '\\x00ff',
        mood: 'happy',
        moods: '{happy,sad}',
        wait: '1 day 02:00:00',
        score: 5,
        y: 0.5,
      },
      {
        doc: '"just a string"',
        raw: 'null',
        tags: '{}',
        names: '{}',
        blob: '\\x',
        mood: 'sad',
        moods: '{}',
        wait: '00:00:00',
        score: -1500,
        y: 1,
      },
      {
        doc: null,
        raw: null,
        tags: null,
        names: null,
        blob: null,
        mood: null,
        moods: null,
        wait: null,
        score: null,
        y: 2,
      },
    ]);
  });

  it('reads them the same on the fast path and through a declared cleaning (the general path)', () => {
    // given a cleaning that changes nothing: the rows go through cleaned-chunk.ts's records instead of the fast paths
    const fast = encode();
    const general = encode({});

    // then both make the same version and the same refusals
    expect(general.rejections).toEqual(fast.rejections);
    expect(general.goodRows).toBe(fast.goodRows);
    expect(Buffer.from(general.parquet).equals(Buffer.from(fast.parquet))).toBe(true);
  });
});
