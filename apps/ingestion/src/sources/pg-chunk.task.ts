import { createHash } from 'node:crypto';
import { type DatasetColumnSpec, type SourceCleaning } from '@keel/contracts';
import { defineWorkerTask, movableBuffers, transferResult } from '@keel/workers';
import { encodeCleanedCopyChunk } from '../cleaning/cleaned-chunk';
import { type DroppedRows } from '../cleaning/row-cleaning';
import { datasetParquet } from '../datasets/dataset-parquet';
import { type CleanCell, cleanValue, keptAsIs } from '../records/record-checks';
import {
  DECIMAL_TYPE_IDS,
  FLOAT_TYPE_IDS,
  INTEGER_TYPE_IDS,
  longDecimal,
  plainDecimal,
  TEXT_TYPE_IDS,
  unescaped,
  CopyTextStrings,
} from './copy-text-values';
import { COPY_DATA, COPY_DATA_HEADER, framedCopyData } from './copy-out';
import { type DeadRow, pgDeadRow } from './dead-rows';
import { JSON_TYPE_IDS, pulledValueParser } from './pg-value-text';
import { copyFieldText, type PulledField } from './postgres-reader';

export interface PgChunkInput {
  pipelineId: string;
  /** The pipeline's dataset schema (`datasetSchema(spec)`): what each row is checked against and stored as. */
  schema: DatasetColumnSpec[];
  /** The result's columns. */
  fields: PulledField[];
  /** Which of `fields` is the source's key (rejected rows are named by it). */
  keyField: number;
  /** Which of `fields` is the source's cursor; given, every refused row is returned for the dead letter. */
  cursorField?: number;
  /** The chunk's rows as the copy sent them: a CopyData message each, one line of COPY text (overwritten here). */
  bytes: Uint8Array;
  /** Most rejection reasons to return (the run keeps a few, counts the rest). */
  maxRejections: number;
  /** The source's declared cleaning: its rows take the general path of cleaning/cleaned-chunk.ts. */
  cleaning?: SourceCleaning;
}

export interface PgChunkOutcome {
  rowsRead: number;
  /** Parquet of the good rows; empty when there are none. */
  parquet: Uint8Array;
  goodRows: number;
  sha256: string;
  rejected: number;
  rejections: string[];
  /** With a cleaning: the rows its steps dropped. */
  dropped?: DroppedRows;
  /** Every refused row, for the source's dead letter (given `cursorField`). */
  deadRows?: DeadRow[];
}

/** How a dataset column is read from its field: the fast paths of copy-text-values.ts, or the general one. */
const MISSING = 0;
const GENERAL = 1;
const TEXT = 2;
/** Number types node-postgres gives as text (int8, numeric), checked as decimal text. */
const DECIMAL = 3;
/** float4, float8: node-postgres reads them with parseFloat. */
const FLOAT = 4;
/** int2, int4: node-postgres reads them with parseInt. */
const INTEGER = 5;

const TAB = 0x09;
const NEWLINE = 0x0a;

/** The strings of text values, kept across the worker's chunks (see CopyTextStrings). */
const strings = new CopyTextStrings();

/**
 * A chunk of a PostgreSQL pull from COPY text to Parquet, on a worker thread. In general each value goes through the
 * parser node-postgres gives its column's type (the text COPY prints is the text a query result carries), a Date
 * becomes ISO text, json, arrays and bytea their text (`pulledValueParser`), and the rows are checked as records are, labelled by their key (`row 12: ...`):
 * so the version holds exactly what reading the same rows as query results held, and the same rows are the same
 * bytes. The chunk is read as bytes, its rows framed by their CopyData headers and split at tabs, with no string of
 * the chunk's text: plain decimals into number columns and unescaped text into string columns, most values, take
 * the fast paths of copy-text-values.ts, which give the same values without a string, a parser call or an unescape
 * each; only the general path decodes a field's bytes as UTF-8 (what decoding the whole text and slicing it gave:
 * fields end at ASCII tabs and newlines). Good values go straight into their column (a double stays unboxed), and a
 * row found bad midway is taken back out.
 */
export function encodePgChunk(input: PgChunkInput): PgChunkOutcome {
  if (input.cleaning) return encodeCleanedCopyChunk(input, input.cleaning);
  const { schema, fields, bytes } = input;
  const width = schema.length;
  // A name repeated in the result: the last one wins, as in node-postgres's row objects.
  const at = new Map(fields.map((field, i) => [field.name, i]));
  const sources = schema.map((column) => at.get(column.name) ?? -1);
  const parsers = sources.map((index) => (index < 0 ? undefined : pulledValueParser(fields[index].typeId)));
  const reads = schema.map((column, c) => {
    const index = sources[c];
    if (index < 0) return MISSING;
    const typeId = fields[index].typeId;
    if (column.type === 'number' && FLOAT_TYPE_IDS.has(typeId)) return FLOAT;
    if (column.type === 'number' && INTEGER_TYPE_IDS.has(typeId)) return INTEGER;
    if (column.type === 'number' && DECIMAL_TYPE_IDS.has(typeId)) return DECIMAL;
    // json and jsonb are read as their text too (pg-value-text.ts), so they take the text fast path.
    if (column.type === 'string' && (TEXT_TYPE_IDS.has(typeId) || JSON_TYPE_IDS.has(typeId))) return TEXT;
    return GENERAL;
  });
  // Fields past the last one a column or the key needs are not split.
  const needed = Math.max(input.keyField, ...sources) + 1;
  const lastField = fields.length - 1;
  const values: CleanCell[][] = schema.map(() => []);
  // Where each field of the current line starts and ends.
  const starts = new Int32Array(fields.length);
  const ends = new Int32Array(fields.length);
  const rejections: string[] = [];
  const deadRows: DeadRow[] = [];
  const where = input.cursorField === undefined ? undefined : { cursor: input.cursorField, key: input.keyField };
  let goodRows = 0;
  let rowsRead = 0;
  let rejected = 0;
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = bytes.length;
  for (let message = 0; message < length;) {
    // A CopyData message: 'd', its length (itself included), one line of COPY text ending in a newline.
    if (message + COPY_DATA_HEADER > length || bytes[message] !== COPY_DATA) {
      throw new Error(`no CopyData message at ${message}`);
    }
    const size =
      ((bytes[message + 1] << 24) | (bytes[message + 2] << 16) | (bytes[message + 3] << 8) | bytes[message + 4]) >>> 0;
    const next = message + 1 + size;
    if (next > length || next <= message + COPY_DATA_HEADER || bytes[next - 1] !== NEWLINE) {
      throw new Error(`a CopyData message at ${message} is not one row`);
    }
    const start = message + COPY_DATA_HEADER;
    const end = next - 1;
    message = next;
    for (let f = 0, from = start; f < needed; f++) {
      let tab = end;
      if (f !== lastField) {
        tab = from;
        while (tab < end && bytes[tab] !== TAB) tab++;
      }
      starts[f] = from;
      ends[f] = tab;
      from = tab < end ? tab + 1 : end;
    }
    rowsRead++;
    let problem: string | undefined;
    let c = 0;
    for (; c < width; c++) {
      const read = reads[c];
      const column = schema[c];
      if (read >= DECIMAL) {
        const first = starts[sources[c]];
        const last = ends[sources[c]];
        let number = plainDecimal(bytes, first, last);
        if (Number.isNaN(number) && read === FLOAT) {
          // A double of 16 or 17 digits (most computed values), else node-postgres's own parser without the rest.
          number = longDecimal(bytes, first, last);
          if (Number.isNaN(number) && unescaped(bytes, first, last))
            number = parseFloat(view.toString('utf8', first, last));
        }
        // node-postgres reads int2 and int4 with parseInt, which stops at a dot (PostgreSQL prints none there).
        if (read === INTEGER && !Number.isInteger(number)) number = NaN;
        if (Number.isFinite(number)) {
          values[c].push(number);
          continue;
        }
      } else if (read === TEXT) {
        const first = starts[sources[c]];
        const last = ends[sources[c]];
        if (unescaped(bytes, first, last)) {
          const value = strings.text(view, first, last);
          if (keptAsIs(column, value)) {
            values[c].push(value);
            continue;
          }
        }
      }
      // A column the result lacks is missing, as an absent key of a record.
      let value: unknown;
      if (read !== MISSING) {
        const raw = copyFieldText(view.toString('utf8', starts[sources[c]], ends[sources[c]]));
        value = raw === null ? null : parsers[c]!(raw);
      }
      if (keptAsIs(column, value)) {
        values[c].push(value as CleanCell);
        continue;
      }
      const clean = cleanValue(column, value);
      if ('problem' in clean) {
        problem = clean.problem;
        break;
      }
      values[c].push(clean.value);
    }
    if (problem === undefined) {
      goodRows++;
      continue;
    }
    // The columns before the bad one took this row's values: take them back.
    for (let taken = 0; taken < c; taken++) values[taken].length = goodRows;
    rejected++;
    const key = copyFieldText(view.toString('utf8', starts[input.keyField], ends[input.keyField]));
    if (rejections.length < input.maxRejections) rejections.push(`row ${key}: ${problem}`);
    // Refused rows are few: only theirs are split whole and kept.
    if (where)
      deadRows.push(pgDeadRow(fields, view.toString('utf8', start, end).split('\t'), where, `row ${key}: ${problem}`));
  }
  const dead = where ? { deadRows } : {};
  if (goodRows === 0)
    return { rowsRead, parquet: new Uint8Array(0), goodRows, sha256: '', rejected, rejections, ...dead };
  const parquet = datasetParquet(
    { id: input.pipelineId },
    { rowCount: goodRows, columns: schema.map(({ name, type }, c) => ({ name, type, values: values[c] })) },
  );
  const sha256 = createHash('sha256').update(parquet).digest('hex');
  return { rowsRead, parquet, goodRows, sha256, rejected, rejections, ...dead };
}

/** {@link encodePgChunk} on a worker thread; the chunk is read where it is (shared memory), the Parquet moves back. */
export const pgChunkTask = defineWorkerTask<PgChunkInput, PgChunkOutcome>(__filename, 'pgChunkTask', (input) => {
  const outcome = encodePgChunk(input);
  return transferResult(outcome, movableBuffers(outcome.parquet));
});

/** Rows of the chunk `pgChunkWarmUp` encodes: enough for V8 to optimize the decode loop and the Parquet encoders. */
const WARM_UP_ROWS = 5_000;

/**
 * A made-up chunk that takes every path of {@link encodePgChunk} (doubles, integers, decimals, plain and escaped
 * text, a timestamp through its parser) into Parquet. Encoded on the worker at start-up, twice, so that the first
 * pull's first chunks do not run the decode and Parquet code unoptimized: measured on this code, a cold worker took
 * 140-320 ms for its first chunk of 50,000 rows and 70-180 for the second, against about 60 once warm.
 */
export function pgChunkWarmUp(): PgChunkInput {
  const colors = ['red', 'green', 'blue', 'a\\tb'];
  const lines = Array.from({ length: WARM_UP_ROWS }, (_, i) => {
    const at = new Date(Date.UTC(2026, 0, 1) + i * 1_000).toISOString().replace('T', ' ').replace('Z', '+00');
    return `${i}\t${at}\t${i / 7}\t${i % 1_000}\t${i * 0.25}\t${colors[i % 4]}`;
  });
  const column = (name: string, type: DatasetColumnSpec['type']): DatasetColumnSpec => ({
    name,
    type,
    role: 'numeric',
    nullable: true,
  });
  return {
    pipelineId: 'warm-up',
    schema: [
      column('x', 'number'),
      column('n', 'number'),
      column('d', 'number'),
      column('s', 'string'),
      column('at', 'timestamp'),
    ],
    fields: [
      { name: 'id', typeId: 20 },
      { name: 'at', typeId: 1184 },
      { name: 'x', typeId: 701 },
      { name: 'n', typeId: 23 },
      { name: 'd', typeId: 1700 },
      { name: 's', typeId: 25 },
    ],
    keyField: 0,
    bytes: framedCopyData(lines),
    maxRejections: 1,
  };
}
