import { createHash } from 'node:crypto';
import { type DatasetColumnSpec, type SourceCleaning } from '@keel/contracts';
import { datasetParquet } from '../datasets/dataset-parquet';
import { COPY_DATA_HEADER, copyDataText } from '../sources/copy-out';
import { type DeadRow, pgDeadRow } from '../sources/dead-rows';
import { pulledValueParser } from '../sources/pg-value-text';
import { copyFieldText, type PulledField } from '../sources/postgres-reader';
import { CleanTable } from './clean-table';
import { type DroppedRows, fieldsNeeded } from './row-cleaning';

/** A version's rows after cleaning and checks, encoded: what a chunk worker returns. */
export interface CleanedChunk {
  rowsRead: number;
  /** Parquet of the kept rows; empty when there are none. */
  parquet: Uint8Array;
  goodRows: number;
  sha256: string;
  rejected: number;
  rejections: string[];
  dropped: DroppedRows;
  /** Every refused row, kept for the source's dead letter (when the caller names the cursor field). */
  deadRows?: DeadRow[];
}

/**
 * Rows through a source's declared cleaning and the dataset's checks, encoded as one version's Parquet: the one call
 * a chunk worker makes for a source with a cleaning. Deterministic: the same rows give the same bytes.
 */
export function encodeCleanedRows(
  pipelineId: string,
  schema: readonly DatasetColumnSpec[],
  cleaning: SourceCleaning,
  rows: Iterable<{ label: string; record: Record<string, unknown> }>,
  maxRejections: number,
  refused?: (index: number, reason: string) => void,
): CleanedChunk {
  const table = new CleanTable(schema, cleaning, maxRejections);
  let index = 0;
  for (const { label, record } of rows) {
    if (!table.add(record, label)) refused?.(index, table.lastRefusal);
    index++;
  }
  const { rowsRead, goodRows, rejected, rejections, dropped } = table;
  if (goodRows === 0)
    return { rowsRead, parquet: new Uint8Array(0), goodRows, sha256: '', rejected, rejections, dropped };
  const parquet = datasetParquet({ id: pipelineId }, table.table());
  const sha256 = createHash('sha256').update(parquet).digest('hex');
  return { rowsRead, parquet, goodRows, sha256, rejected, rejections, dropped };
}

/**
 * The rows of a chunk of a copy (its CopyData messages, see copy-out.ts) as records of the fields of the result that
 * are `needed` (those the dataset and the cleaning name), each value read as a query result carries it (node-postgres's parser of its type;
 * a timestamp as ISO text), labelled by the source's key (`row 12`). COPY escapes tabs and newlines inside values,
 * so fields split on tabs. Overwrites the messages' headers in place (`bytes` is shared with the event loop, which
 * reads nothing of it once handed over and refills it only after release, see `copyDataText`).
 */
export function* copyTextRecords(
  bytes: Uint8Array,
  fields: readonly PulledField[],
  keyField: number,
  needed?: ReadonlySet<string>,
): Generator<{ label: string; record: Record<string, unknown>; cells: string[] }> {
  // Only the fields the cleaning and the dataset need are parsed (a timestamp's parse is costly); `needed` absent: all.
  const read = fields.flatMap((field, i) =>
    needed && !needed.has(field.name) ? [] : [{ name: field.name, i, parse: pulledValueParser(field.typeId) }],
  );
  const { text } = copyDataText(bytes);
  // Each row's text starts COPY_DATA_HEADER characters (its message's header, now spaces) after the previous newline.
  for (let start = COPY_DATA_HEADER; start < text.length;) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const cells = text.slice(start, end).split('\t');
    start = end + 1 + COPY_DATA_HEADER;
    // Without a prototype, so a column named __proto__ is a field; a name repeated in the result: the last one wins.
    const record = Object.create(null) as Record<string, unknown>;
    for (const { name, i, parse } of read) {
      const raw = i < cells.length ? copyFieldText(cells[i]) : null;
      record[name] = raw === null ? null : parse(raw);
    }
    yield { label: `row ${copyFieldText(cells[keyField] ?? '\\N')}`, record, cells };
  }
}

/**
 * A chunk of a PostgreSQL pull (COPY text) through the source's declared cleaning and the dataset's checks: what the
 * chunk worker does, in one call, for a source with a cleaning (one without keeps the worker's fast paths).
 */
export function encodeCleanedCopyChunk(
  chunk: {
    pipelineId: string;
    schema: readonly DatasetColumnSpec[];
    fields: readonly PulledField[];
    keyField: number;
    /** Given: every refused row is returned for the dead letter, named by its (cursor, key). */
    cursorField?: number;
    bytes: Uint8Array;
    maxRejections: number;
  },
  cleaning: SourceCleaning,
): CleanedChunk {
  const needed = fieldsNeeded(
    cleaning,
    chunk.schema.map((column) => column.name),
  );
  const rows = copyTextRecords(chunk.bytes, chunk.fields, chunk.keyField, needed);
  const { cursorField } = chunk;
  if (cursorField === undefined)
    return encodeCleanedRows(chunk.pipelineId, chunk.schema, cleaning, rows, chunk.maxRejections);
  // A row is refused while it is the one read last: its COPY fields are at hand without holding every row's.
  let current: string[] = [];
  function* tracked() {
    for (const row of rows) {
      current = row.cells;
      yield row;
    }
  }
  const deadRows: DeadRow[] = [];
  const where = { cursor: cursorField, key: chunk.keyField };
  const encoded = encodeCleanedRows(
    chunk.pipelineId,
    chunk.schema,
    cleaning,
    tracked(),
    chunk.maxRejections,
    (_, reason) => deadRows.push(pgDeadRow(chunk.fields, current, where, reason)),
  );
  return { ...encoded, deadRows };
}
