import { createHash } from 'node:crypto';
import { type DatasetColumnSpec } from '@keel/contracts';
import { defineWorkerTask, movableBuffers, transferResult } from '@keel/workers';
import { types } from 'pg';
import { datasetParquet } from '../datasets/dataset-parquet';
import { type CleanCell, cleanValue, keptAsIs } from '../records/record-checks';
import { copyFieldText, type PulledField, pulledValue } from './postgres-reader';

export interface PgChunkInput {
  pipelineId: string;
  /** The pipeline's dataset schema (`datasetSchema(spec)`): what each row is checked against and stored as. */
  schema: DatasetColumnSpec[];
  /** The result's columns, the watermark's two last. */
  fields: PulledField[];
  /** COPY text lines of the chunk. */
  bytes: Uint8Array;
  /** Most rejection reasons to return (the run keeps a few, counts the rest). */
  maxRejections: number;
}

export interface PgChunkOutcome {
  rowsRead: number;
  /** Parquet of the good rows; empty when there are none. */
  parquet: Uint8Array;
  goodRows: number;
  sha256: string;
  rejected: number;
  rejections: string[];
}

type Parse = (text: string) => unknown;

/**
 * A chunk of a PostgreSQL pull from COPY text to Parquet, on a worker thread. Each value goes through the parser
 * node-postgres gives its column's type (the text COPY prints is the text a query result carries) and a Date becomes
 * ISO text, as `toPulledRow` does; the rows are checked as records are, labelled by their key (`row 12: ...`). So
 * the version holds exactly what reading the same rows through a cursor held, and the same rows are the same bytes.
 */
export function encodePgChunk(input: PgChunkInput): PgChunkOutcome {
  const { schema, fields } = input;
  const keyIndex = fields.length - 1;
  // A name repeated in the result: the last one wins, as in node-postgres's row objects.
  const at = new Map(fields.slice(0, -2).map((field, i) => [field.name, i]));
  const sources = schema.map((column) => at.get(column.name) ?? -1);
  const parsers = sources.map((index) =>
    index < 0 ? undefined : (types.getTypeParser(fields[index].typeId, 'text') as Parse),
  );
  const values: CleanCell[][] = schema.map(() => []);
  const row: CleanCell[] = new Array(schema.length);
  // Where each field of the current line starts and ends: only the fields a column needs are sliced.
  const starts = new Int32Array(fields.length);
  const ends = new Int32Array(fields.length);
  const rejections: string[] = [];
  let rowsRead = 0;
  let rejected = 0;
  const text = Buffer.from(input.bytes.buffer, input.bytes.byteOffset, input.bytes.byteLength).toString('utf8');
  for (let start = 0; start < text.length;) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    for (let f = 0, from = start; f < fields.length; f++) {
      const tab = f === fields.length - 1 ? -1 : text.indexOf('\t', from);
      starts[f] = from;
      ends[f] = tab < 0 || tab > end ? end : tab;
      from = ends[f] + 1;
    }
    rowsRead++;
    let problem: string | undefined;
    for (let c = 0; c < schema.length && problem === undefined; c++) {
      const index = sources[c];
      // A column the result lacks is missing, as an absent key of a record.
      let value: unknown;
      if (index >= 0) {
        const raw = copyFieldText(text.slice(starts[index], ends[index]));
        value = raw === null ? null : pulledValue(parsers[c]!(raw));
      }
      if (keptAsIs(schema[c], value)) {
        row[c] = value as CleanCell;
        continue;
      }
      const clean = cleanValue(schema[c], value);
      if ('problem' in clean) problem = clean.problem;
      else row[c] = clean.value;
    }
    const key = problem === undefined ? '' : copyFieldText(text.slice(starts[keyIndex], ends[keyIndex]));
    start = end + 1;
    if (problem === undefined) {
      for (let c = 0; c < schema.length; c++) values[c].push(row[c]);
      continue;
    }
    rejected++;
    if (rejections.length < input.maxRejections) rejections.push(`row ${key}: ${problem}`);
  }
  const goodRows = values[0]?.length ?? 0;
  if (goodRows === 0) return { rowsRead, parquet: new Uint8Array(0), goodRows, sha256: '', rejected, rejections };
  const parquet = datasetParquet(
    { id: input.pipelineId },
    { rowCount: goodRows, columns: schema.map(({ name, type }, c) => ({ name, type, values: values[c] })) },
  );
  const sha256 = createHash('sha256').update(parquet).digest('hex');
  return { rowsRead, parquet, goodRows, sha256, rejected, rejections };
}

/** {@link encodePgChunk} on a worker thread; the chunk's bytes move in, the Parquet moves back. */
export const pgChunkTask = defineWorkerTask<PgChunkInput, PgChunkOutcome>(__filename, 'pgChunkTask', (input) => {
  const outcome = encodePgChunk(input);
  return transferResult(outcome, movableBuffers(outcome.parquet));
});
