import { datasetSchema, type PipelineSpecV1 } from '@keel/contracts';
import { parsePipelineSpec } from '@keel/pipelines';
import { describe, expect, it } from 'vitest';
import { framedCopyData } from './copy-out';
import { deadRowId } from './dead-rows';
import { encodeDeadRows } from './dead-rows.task';
import { encodePgChunk } from './pg-chunk.task';

const specWith = (tagsType: 'numeric' | 'categorical'): PipelineSpecV1 =>
  parsePipelineSpec({
    apiVersion: 'keel/v1',
    kind: 'Pipeline',
    id: 'pg-dead',
    task: 'regression',
    target: { column: 'y' },
    features: [
      { name: 'x', type: 'numeric' },
      { name: 'tags', type: tagsType },
    ],
    training: { algorithms: ['linear-regression'], primaryMetric: 'rmse' },
  });

// id int8, at timestamptz, x float8, tags int4[], y numeric, __proto__ text (kept as a field, never a prototype).
const fields = [
  { name: 'id', typeId: 20 },
  { name: 'at', typeId: 1184 },
  { name: 'x', typeId: 701 },
  { name: 'tags', typeId: 1007 },
  { name: 'y', typeId: 1700 },
  { name: '__proto__', typeId: 25 },
];
const lines = [
  '1\t2026-01-01 00:00:00.123456+00\t1.5\t\\N\t2.50\ta',
  '2\t2026-01-01 01:00:00+00\tNaN\t\\N\t3\tb\\tc',
  '9007199254740993\t2026-01-02 00:00:00+00\t2\t{1,2}\t4.75\t\\N',
  '4\t2026-01-03 00:00:00+00\t3\t{}\t\\N\td',
];
const pulled = (spec: PipelineSpecV1, copyLines: string[], cleaning?: object) =>
  encodePgChunk({
    pipelineId: spec.id,
    schema: datasetSchema(spec),
    fields,
    keyField: 0,
    cursorField: 1,
    bytes: framedCopyData(copyLines),
    maxRejections: 1,
    ...(cleaning ? { cleaning } : {}),
  });

describe('the dead rows of a PostgreSQL chunk', () => {
  it('are every refused row, named by its (cursor, key), with its reason and its fields as COPY printed them', () => {
    // when a chunk is encoded under a spec that reads an int4[] column as a number
    const outcome = pulled(specWith('numeric'), lines);

    // then every refused row comes back (not only the reasons the run keeps), exact to the bigint's digits
    expect(outcome.rejections).toEqual(['row 2: x NaN is not a finite number']);
    expect(outcome.deadRows?.map(({ at, reason }) => ({ at, reason }))).toEqual([
      { at: { cursor: '2026-01-01 01:00:00+00', key: '2' }, reason: 'row 2: x NaN is not a finite number' },
      {
        at: { cursor: '2026-01-02 00:00:00+00', key: '9007199254740993' },
        reason: 'row 9007199254740993: tags "{1,2}" is not a number',
      },
      { at: { cursor: '2026-01-03 00:00:00+00', key: '4' }, reason: 'row 4: tags "{}" is not a number' },
    ]);
    expect(JSON.parse(outcome.deadRows![0].row)).toEqual({
      id: '2',
      at: '2026-01-01 01:00:00+00',
      x: 'NaN',
      tags: null,
      y: '3',
      ['__proto__']: 'b\tc',
    });
    expect(outcome.deadRows![0].fields).toEqual(fields);
  });

  it('are the same through a declared cleaning (the general path)', () => {
    const fast = pulled(specWith('numeric'), lines);
    const cleaned = pulled(specWith('numeric'), lines, {});
    expect(cleaned.deadRows).toEqual(fast.deadRows);
  });

  it('replayed under the fixed spec, make the version pulling them under it makes; still bad ones are refused', () => {
    // given the dead rows of a pull under the wrong spec
    const dead = pulled(specWith('numeric'), lines).deadRows!;
    const fixed = specWith('categorical');

    // when they are checked again under the fixed spec
    const replayed = encodeDeadRows({
      pipelineId: fixed.id,
      schema: datasetSchema(fixed),
      fields: [[...fields]],
      rows: dead.map((row) => ({ label: `row ${row.at.key}`, row: row.row, fields: 0 })),
      maxRejections: 20,
    });

    // then the row the fix concerns passes, into the bytes a pull of it makes now; the others are refused again, with the
    // reason the fixed spec gives
    const direct = pulled(fixed, lines.slice(2));
    expect(replayed.goodRows).toBe(1);
    expect(replayed.refused).toEqual([
      { index: 0, reason: 'row 2: x NaN is not a finite number' },
      { index: 2, reason: 'row 4: y is missing (target)' },
    ]);
    expect(Buffer.from(replayed.parquet).equals(Buffer.from(direct.parquet))).toBe(true);
    expect(replayed.sha256).toBe(direct.sha256);
  });

  it('have ids naming the pipeline, the source and the row (cursor, key): the same refusal twice is one', () => {
    const at = { cursor: '2026-01-01 00:00:00+00', key: '1' };
    expect(deadRowId('p', 's', at)).toBe(deadRowId('p', 's', { ...at }));
    expect(
      new Set([
        deadRowId('p', 's', at),
        deadRowId('p', 't', at),
        deadRowId('q', 's', at),
        deadRowId('p', 's', { ...at, key: '2' }),
        deadRowId('p', 's', { ...at, cursor: '2026-01-01 00:00:01+00' }),
      ]).size,
    ).toBe(5);
  });
});
