import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type MessagePort } from 'node:worker_threads';
import {
  type DatasetColumnSpec,
  datasetSchema,
  type FileFormat,
  type PipelineSpec,
  type SourceCleaning,
} from '@keel/contracts';
import { parquetDecompressors } from '@keel/datasets';
import { defineWorkerTask, movableBuffers, transferResult, type WorkerTaskContext } from '@keel/workers';
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects, parquetSchema } from 'hyparquet';
import { CleanTable } from '../cleaning/clean-table';
import { type DroppedRows, fieldsNeeded } from '../cleaning/row-cleaning';
import { datasetParquet } from '../datasets/dataset-parquet';
import { checkHeader, CsvError, CsvParser } from './csv';
import { NotUtf8Text, Utf8Text } from './utf8-text';

/** Problems listed in a rejection; the count says how many there were in all. */
export const MAX_LISTED_PROBLEMS = 20;

/** How often parsing reports progress, in rows. */
const PROGRESS_EVERY_ROWS = 100_000;

/** What the uploader sends down the body port: the file's bytes piece by piece, then its end (or a cancel). */
export type UploadBodyMessage = { chunk: Uint8Array } | { end: true } | { cancel: true };

/** What the worker sends back up the body port: a chunk's bytes it has parsed, the uploader's credit to send more. */
export interface UploadBodyAck {
  consumed: number;
}

export interface FileUploadInput {
  spec: PipelineSpec;
  format: FileFormat;
  /** Receives {@link UploadBodyMessage}s. */
  body: MessagePort;
  /** An object-store source's declared cleaning, applied to each row before the checks; none for an upload. */
  cleaning?: SourceCleaning;
}

/** What became of an uploaded file: a dataset version's Parquet, or why the file is not one. */
export type UploadOutcome =
  /** `rowCount` rows in the version, `rowsRead` in the file (more when the cleaning dropped some). */
  | { kind: 'encoded'; parquet: Uint8Array; rowCount: number; rowsRead: number; dropped?: DroppedRows }
  | { kind: 'malformed'; problem: string }
  /** No rows, or (`dropped`) every row dropped by the cleaning. */
  | { kind: 'no-rows'; rowsRead: number; dropped?: DroppedRows }
  | { kind: 'rejected'; badCount: number; rowCount: number; issues: string[]; dropped?: DroppedRows }
  | { kind: 'cancelled' };

/** A file that is not of its declared format, with where (`line 3: ...`). */
class MalformedFile extends Error {}

/** The file ended because the uploader cancelled it. */
class Cancelled extends Error {}

/**
 * The body's messages as they arrive, until its end; returns false when the uploader cancelled. Each chunk is
 * acknowledged ({@link UploadBodyAck}) once parsed, when the next is asked for: the uploader keeps only a few MiB in
 * flight, so a client faster than the parser does not queue its whole body here.
 */
async function* bodyChunks(port: MessagePort): AsyncGenerator<Uint8Array, boolean> {
  const queue: UploadBodyMessage[] = [];
  let wake: (() => void) | undefined;
  port.on('message', (message: UploadBodyMessage) => {
    queue.push(message);
    wake?.();
  });
  try {
    for (;;) {
      while (queue.length === 0) await new Promise<void>((resolve) => (wake = resolve));
      const message = queue.shift()!;
      if ('cancel' in message) return false;
      if ('end' in message) return true;
      const bytes = message.chunk.byteLength;
      yield message.chunk;
      port.postMessage({ consumed: bytes } satisfies UploadBodyAck);
    }
  } finally {
    port.close();
  }
}

/** Every chunk of the body; a cancelled body throws {@link Cancelled}. */
async function* wholeBody(chunks: AsyncGenerator<Uint8Array, boolean>): AsyncGenerator<Uint8Array> {
  for (;;) {
    const next = await chunks.next();
    if (next.done) {
      if (!next.value) throw new Cancelled();
      return;
    }
    yield next.value;
  }
}

/**
 * Checks rows one at a time against the dataset schema (the same checks as Kafka records), after an object-store
 * source's declared cleaning, and keeps the columns of the good ones while no row has failed: a file is all or
 * nothing (rows the cleaning drops are counted, not failures).
 */
class RowCollector {
  readonly schema: readonly DatasetColumnSpec[];
  private readonly rows: CleanTable;

  constructor(
    private readonly spec: PipelineSpec,
    private readonly progress: WorkerTaskContext['progress'],
    private readonly cleaning: SourceCleaning | undefined,
  ) {
    this.schema = datasetSchema(spec);
    this.rows = new CleanTable(this.schema, cleaning, MAX_LISTED_PROBLEMS);
    const columns = this.schema.map((column) => column.name);
    this.fieldsRead = cleaning ? fieldsNeeded(cleaning, columns) : new Set(columns);
  }

  /** The dataset's columns, and with a cleaning the fields its steps name (by the file's names): what is read. */
  readonly fieldsRead: ReadonlySet<string>;

  /**
   * Fields a file must have, whatever its rows hold: the target, features and time column that may not be missing,
   * named as the file names them (before the cleaning's rename; a column the cleaning defaults need not be there).
   */
  requiredColumns(): string[] {
    const renamedFrom = new Map(Object.entries(this.cleaning?.rename ?? {}).map(([from, to]) => [to, from]));
    const missing = this.cleaning?.missing ?? {};
    return this.schema
      .filter((column) => column.role !== 'attribute' || !column.nullable)
      .filter((column) => {
        const rule = Object.prototype.hasOwnProperty.call(missing, column.name) ? missing[column.name] : undefined;
        return rule === undefined || rule === 'drop';
      })
      .map((column) => renamedFrom.get(column.name) ?? column.name);
  }

  add(record: Readonly<Record<string, unknown>>, label: string): void {
    const ok = this.rows.add(record, label);
    // All or nothing: once a row failed, the values are not needed.
    if (!ok && this.rows.rejected === 1) this.rows.stopStoring();
    if (this.rows.rowsRead % PROGRESS_EVERY_ROWS === 0) this.progress({ stage: 'parse', done: this.rows.rowsRead });
  }

  outcome(): UploadOutcome {
    const { rowsRead, rejected, goodRows, rejections } = this.rows;
    const dropped = this.cleaning ? { dropped: this.rows.dropped } : {};
    if (rowsRead === 0 || (rejected === 0 && goodRows === 0)) return { kind: 'no-rows', rowsRead, ...dropped };
    if (rejected > 0)
      return { kind: 'rejected', badCount: rejected, rowCount: rowsRead, issues: rejections, ...dropped };
    this.progress({ stage: 'encode', done: goodRows, total: goodRows });
    const parquet = datasetParquet(this.spec, this.rows.table());
    return { kind: 'encoded', parquet, rowCount: goodRows, rowsRead, ...dropped };
  }
}

/** CSV with a header row, in UTF-8 (other encodings are refused, not mangled); an empty field is a missing value. */
async function collectCsv(rows: RowCollector, body: AsyncIterable<Uint8Array>): Promise<void> {
  let header: string[] | undefined;
  let wanted: { name: string; index: number }[] = [];
  const parser = new CsvParser((fields, line) => {
    if (!header) {
      header = checkHeader(fields);
      const names = header;
      const missing = rows.requiredColumns().filter((name) => !names.includes(name));
      if (missing.length > 0) {
        throw new CsvError(1, `the header lacks columns the spec requires: ${missing.join(', ')}`);
      }
      wanted = names.map((name, index) => ({ name, index })).filter(({ name }) => rows.fieldsRead.has(name));
      return;
    }
    if (fields.length !== header.length) {
      throw new CsvError(line, `expected ${header.length} fields, found ${fields.length}`);
    }
    // Without a prototype: with a cleaning every header name is a field, and `__proto__` must stay one.
    const record = Object.create(null) as Record<string, string | null>;
    for (const { name, index } of wanted) if (index >= 0) record[name] = fields[index] === '' ? null : fields[index];
    rows.add(record, `line ${line}`);
  });
  const text = new Utf8Text();
  try {
    for await (const chunk of body) parser.push(text.decode(chunk));
    parser.push(text.end());
    parser.end();
  } catch (error) {
    if (error instanceof CsvError || error instanceof NotUtf8Text) throw new MalformedFile(error.message);
    throw error;
  }
}

/** JSON Lines: one JSON object per line (blank lines skipped); its fields are the row's columns. */
async function collectJsonl(rows: RowCollector, body: AsyncIterable<Uint8Array>): Promise<void> {
  const text = new Utf8Text();
  let pending = '';
  let line = 0;
  const take = (text: string) => {
    line++;
    const trimmed = text.endsWith('\r') ? text.slice(0, -1) : text;
    if (trimmed.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(trimmed);
    } catch (error) {
      throw new MalformedFile(`line ${line}: not JSON (${(error as Error).message})`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new MalformedFile(`line ${line}: not a JSON object`);
    }
    rows.add(value as Record<string, unknown>, `line ${line}`);
  };
  const split = () => {
    let start = 0;
    let at: number;
    while ((at = pending.indexOf('\n', start)) >= 0) {
      take(pending.slice(start, at));
      start = at + 1;
    }
    pending = pending.slice(start);
  };
  try {
    for await (const chunk of body) {
      pending += text.decode(chunk);
      split();
    }
    pending += text.end();
  } catch (error) {
    if (error instanceof NotUtf8Text) throw new MalformedFile(error.message);
    throw error;
  }
  split();
  take(pending);
}

/**
 * A Parquet value as a record field, timestamps as ISO text. A 64-bit integer is a number while a double holds it
 * exactly, and beyond ±2^53 its decimal text: the column's type is not known here, and the text is what the same
 * value in a CSV would be, so a string column (an entity id) keeps every digit rather than merging two ids into one
 * rounded double, and a number column rounds it as it rounds the CSV's text (the checks' Number()): the same rows
 * make the same version bytes in either format. A DECIMAL column arrives as its raw unscaled integer (see
 * `rawDecimals`) and is rebuilt the same way from its exact decimal text.
 */
function parquetValue(value: unknown, decimal?: DecimalColumn): unknown {
  if (decimal && value !== null && value !== undefined) return decimalValue(value, decimal);
  if (typeof value === 'bigint') {
    return value >= Number.MIN_SAFE_INTEGER && value <= Number.MAX_SAFE_INTEGER ? Number(value) : String(value);
  }
  if (value instanceof Date) return value.toISOString();
  return value;
}

interface DecimalColumn {
  readonly scale: number;
}

type SchemaElement = Awaited<ReturnType<typeof parquetMetadataAsync>>['schema'][number];

function decimalScale(element: SchemaElement): number | undefined {
  const logical = element.logical_type;
  if (logical?.type === 'DECIMAL') return logical.scale ?? element.scale ?? 0;
  if (element.converted_type === 'DECIMAL') return element.scale ?? 0;
  return undefined;
}

/**
 * hyparquet converts a DECIMAL to `Number(unscaled) * 10 ** -scale`, which merges ids beyond 2^53 and prints 0.57 as
 * 0.5700000000000001, and it has no option to skip that. So the metadata it reads with loses the DECIMAL annotation
 * of the top-level INT32, INT64 and FIXED_LEN_BYTE_ARRAY columns: it hands their unscaled integers over untouched,
 * and `decimalValue` writes the exact text. (A BYTE_ARRAY DECIMAL, rare, would then be read as UTF-8 text, so it
 * keeps the annotation and is checked by `decimalValue` instead.)
 */
function rawDecimals(metadata: Awaited<ReturnType<typeof parquetMetadataAsync>>): {
  metadata: Awaited<ReturnType<typeof parquetMetadataAsync>>;
  decimals: Map<string, DecimalColumn>;
} {
  const decimals = new Map<string, DecimalColumn>();
  const topLevel = new Set(parquetSchema(metadata).children.map((child) => child.element));
  const schema = metadata.schema.map((element) => {
    const scale = decimalScale(element);
    if (scale === undefined || !topLevel.has(element) || element.type === 'BYTE_ARRAY') return element;
    decimals.set(element.name, { scale });
    return { ...element, converted_type: undefined, logical_type: undefined };
  });
  return { metadata: { ...metadata, schema }, decimals };
}

/** The signed big-endian two's-complement integer of a FIXED_LEN_BYTE_ARRAY DECIMAL. */
function signedBigEndian(bytes: Uint8Array): bigint {
  let value = 0n;
  for (const byte of bytes) value = (value << 8n) | BigInt(byte);
  return bytes.length > 0 && bytes[0] >= 0x80 ? value - (1n << BigInt(bytes.length * 8)) : value;
}

/**
 * The DECIMAL's exact text (unscaled 57, scale 2: "0.57"), then as `parquetValue` treats an integer: a number when
 * a double reads that text as the CSV's Number() would and prints it back the same, else the text itself.
 */
function decimalValue(value: unknown, { scale }: DecimalColumn): unknown {
  let unscaled: bigint;
  if (value instanceof Uint8Array) unscaled = signedBigEndian(value);
  else if (typeof value === 'bigint') unscaled = value;
  else if (typeof value === 'number' && Number.isInteger(value)) unscaled = BigInt(value);
  else return value;
  const negative = unscaled < 0n;
  let digits = (negative ? -unscaled : unscaled).toString();
  let text = digits;
  if (scale > 0) {
    digits = digits.padStart(scale + 1, '0');
    text = `${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
  } else if (scale < 0) {
    text = unscaled === 0n ? '0' : digits + '0'.repeat(-scale);
  }
  text = (negative ? '-' : '') + text;
  const asNumber = Number(text);
  return String(asNumber) === text || (scale > 0 && Math.abs(Number(unscaled)) <= Number.MAX_SAFE_INTEGER)
    ? asNumber
    : text;
}

/**
 * Parquet: its footer is at its end, so the body is spooled to a temporary file (never held whole in memory) and
 * read back one row group at a time with hyparquet.
 */
async function collectParquet(rows: RowCollector, body: AsyncIterable<Uint8Array>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'keel-upload-'));
  const path = join(dir, 'upload.parquet');
  try {
    const handle = await open(path, 'w');
    try {
      for await (const chunk of body) await handle.write(chunk);
    } finally {
      await handle.close();
    }
    let file: Awaited<ReturnType<typeof asyncBufferFromFile>>;
    let read: ReturnType<typeof rawDecimals>;
    try {
      file = await asyncBufferFromFile(path);
      read = rawDecimals(await parquetMetadataAsync(file));
    } catch (error) {
      throw new MalformedFile(`not a Parquet file (${(error as Error).message})`);
    }
    const { metadata, decimals } = read;
    const names = parquetSchema(metadata).children.map((child) => child.element.name);
    const missing = rows.requiredColumns().filter((name) => !names.includes(name));
    if (missing.length > 0) throw new MalformedFile(`the file lacks columns the spec requires: ${missing.join(', ')}`);
    const columns = names.filter((name) => rows.fieldsRead.has(name));
    let rowStart = 0;
    for (const group of metadata.row_groups) {
      const rowEnd = rowStart + Number(group.num_rows);
      let objects: Record<string, unknown>[];
      try {
        // ZSTD and the others beside hyparquet's snappy: Keel's own versions are ZSTD (polars writes it by default too).
        objects = (await parquetReadObjects({
          file,
          metadata,
          columns,
          rowStart,
          rowEnd,
          compressors: parquetDecompressors,
        })) as Record<string, unknown>[];
      } catch (error) {
        throw new MalformedFile(`rows ${rowStart + 1}-${rowEnd}: ${(error as Error).message}`);
      }
      objects.forEach((object, i) => {
        const record = Object.create(null) as Record<string, unknown>;
        for (const name of columns) record[name] = parquetValue(object[name], decimals.get(name));
        rows.add(record, `row ${rowStart + i + 1}`);
      });
      rowStart = rowEnd;
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const COLLECTORS: Record<FileFormat, (rows: RowCollector, body: AsyncIterable<Uint8Array>) => Promise<void>> = {
  csv: collectCsv,
  jsonl: collectJsonl,
  parquet: collectParquet,
};

/**
 * Parses an uploaded file (CSV, JSON Lines or Parquet) as it streams in, checks every row against the pipeline's
 * dataset schema, and encodes the dataset version's Parquet when every row passed. Whatever the format, the same
 * rows make the same bytes. A file is all or nothing: any bad row rejects it, with the first problems listed.
 */
export async function encodeUpload(
  spec: PipelineSpec,
  format: FileFormat,
  chunks: AsyncGenerator<Uint8Array, boolean>,
  { progress }: Pick<WorkerTaskContext, 'progress'>,
  cleaning?: SourceCleaning,
): Promise<UploadOutcome> {
  const rows = new RowCollector(spec, progress, cleaning);
  try {
    await COLLECTORS[format](rows, wholeBody(chunks));
  } catch (error) {
    if (error instanceof MalformedFile) return { kind: 'malformed', problem: error.message };
    if (error instanceof Cancelled) return { kind: 'cancelled' };
    throw error;
  } finally {
    await chunks.return(false);
  }
  return rows.outcome();
}

/** {@link encodeUpload} on a worker thread, reading the file from the body port; the Parquet moves back. */
export const fileUploadTask = defineWorkerTask<FileUploadInput, UploadOutcome>(
  __filename,
  'fileUploadTask',
  async (input: FileUploadInput, context: WorkerTaskContext) => {
    const outcome = await encodeUpload(input.spec, input.format, bodyChunks(input.body), context, input.cleaning);
    return outcome.kind === 'encoded' ? transferResult(outcome, movableBuffers(outcome.parquet)) : outcome;
  },
);
