import { createHash } from 'node:crypto';
import { type ColumnType } from '@keel/contracts';
import { type DatasetTable } from '@keel/datasets';
import { defineWorkerTask, movableBuffers, transferResult } from '@keel/workers';
import { datasetParquet } from '../datasets/dataset-parquet';
import {
  type CleanCell,
  type CleanColumns,
  type CleanRecord,
  type CleanRows,
  type CodedColumns,
  columnsRowCount,
  decodedColumn,
} from '../records/record-checks';
import { takeCheckedRows } from './checked-rows-cache';
import { type StagedPayload } from './staging.repository';

export interface CutEncodeInput {
  pipelineId: string;
  /** The dataset schema at the cut: its columns in order, whatever columns the payloads were staged with. */
  schema: { name: string; type: ColumnType }[];
  payloads: StagedPayload[];
}

export interface CutEncoded {
  parquet: Uint8Array;
  rowCount: number;
  sha256: string;
}

/**
 * The table of staged payloads in their order, in the schema's columns: a column a payload lacks (the spec gained it
 * after staging) is null, one the schema lacks is left out, as for rows and records staged before columns were.
 */
export function stagedTable(schema: CutEncodeInput['schema'], payloads: readonly StagedPayload[]): DatasetTable {
  // Each column's cells a payload at a time, joined once at the end (staged columns are taken as they are).
  const parts: CleanCell[][][] = schema.map(() => []);
  for (const payload of payloads) {
    if ('rowsJson' in payload) {
      // Rows this thread checked are taken as they are: their text parses to the same (codedColumns of checkColumnsOf).
      const staged =
        takeCheckedRows(payload.rowsJson) ?? (JSON.parse(payload.rowsJson) as CodedColumns | CleanColumns | CleanRows);
      if ('coded' in staged) addCoded(schema, staged, parts);
      else if ('values' in staged) addColumns(schema, staged, parts);
      else addRows(schema, staged.columns, staged.rows, parts);
    } else {
      const records = JSON.parse(payload.recordsJson) as CleanRecord[];
      for (let c = 0; c < schema.length; c++) {
        const { name } = schema[c];
        // Own keys only: a column named `constructor` that a record lacks is null, not Object.
        parts[c].push(records.map((record) => (Object.hasOwn(record, name) ? (record[name] ?? null) : null)));
      }
    }
  }
  const values = parts.map(joined);
  return {
    rowCount: values[0]?.length ?? 0,
    columns: schema.map(({ name, type }, c) => ({ name, type, values: values[c] })),
  };
}

function addColumns(schema: CutEncodeInput['schema'], staged: CleanColumns, parts: CleanCell[][][]): void {
  const count = columnsRowCount(staged);
  if (staged.values.some((column) => column.length !== count)) {
    throw new Error(`staged columns of different lengths (${staged.columns.join(', ')})`);
  }
  for (let c = 0; c < schema.length; c++) {
    const from = staged.columns.indexOf(schema[c].name);
    parts[c].push(from < 0 ? new Array<CleanCell>(count).fill(null) : staged.values[from]);
  }
}

/** Columns staged since session 27 (`CodedColumns`): a coded column's cells are its dictionary's entries. */
function addCoded(schema: CutEncodeInput['schema'], staged: CodedColumns, parts: CleanCell[][][]): void {
  const { rows } = staged;
  if (staged.coded.length !== staged.columns.length) {
    throw new Error(`staged columns (${staged.columns.join(', ')}) with ${staged.coded.length} columns of cells`);
  }
  for (let c = 0; c < schema.length; c++) {
    const from = staged.columns.indexOf(schema[c].name);
    parts[c].push(from < 0 ? new Array<CleanCell>(rows).fill(null) : decodedColumn(staged.coded[from], rows));
  }
}

/** Rows staged before columns were (`CleanRows`). */
function addRows(
  schema: CutEncodeInput['schema'],
  columns: readonly string[],
  rows: readonly CleanCell[][],
  parts: CleanCell[][][],
): void {
  for (let c = 0; c < schema.length; c++) {
    const from = columns.indexOf(schema[c].name);
    parts[c].push(from < 0 ? new Array<CleanCell>(rows.length).fill(null) : rows.map((row) => row[from] ?? null));
  }
}

/** Most arrays one `concat` call takes as arguments; more are copied in a loop. */
const MAX_CONCAT_PARTS = 10_000;

/** One column's parts as one array: `concat` copies each part in one go (a third of a loop's time), when it can. */
function joined(parts: CleanCell[][]): CleanCell[] {
  if (parts.length === 1) return parts[0];
  if (parts.length <= MAX_CONCAT_PARTS) return ([] as CleanCell[]).concat(...parts);
  const out: CleanCell[] = [];
  for (const part of parts) for (const cell of part) out.push(cell);
  return out;
}

/**
 * A cut's Parquet from its staged payloads, on a worker thread: decoding the staged JSON and encoding Parquet are
 * the cut's CPU, which on the event loop would hold the records consumer back. Same payloads ⇒ same bytes.
 */
export const cutEncodeTask = defineWorkerTask<CutEncodeInput, CutEncoded>(__filename, 'cutEncodeTask', (input) => {
  const table = stagedTable(input.schema, input.payloads);
  if (table.rowCount === 0) return { parquet: new Uint8Array(0), rowCount: 0, sha256: '' };
  const parquet = datasetParquet({ id: input.pipelineId }, table);
  const sha256 = createHash('sha256').update(parquet).digest('hex');
  return transferResult({ parquet, rowCount: table.rowCount, sha256 }, movableBuffers(parquet));
});
