import { parquetColumnTypes, readParquet, timeValueMs } from '@keel/datasets';
import { asBuffer, defineWorkerTask } from '@keel/workers';

/**
 * The earliest and latest readable time of one column of a dataset version (ms), recorded with the version when it is
 * validated: a training window's point-in-time join skips the table versions whose rows no row can take (see
 * join-pruning.ts) without reading them. Both absent: no row has a readable time.
 */
export interface VersionTimeRange {
  column: string;
  minMs?: number;
  maxMs?: number;
  /**
   * The bytes are not Parquet or lack the column: recorded so the version is not read for its range again, and
   * always read by a join (it fails there as it did before ranges were recorded).
   */
  unreadable?: true;
  /**
   * The version's columns and their declared types (null: readParquet infers it from the values), as JSON text of
   * `[name, type][]` (column names are free-form: never document keys): a join that skips the version checks from it
   * that the version has the columns it joins and what type the first version of its cut gives each, so skipping it
   * changes nothing but what is read. Absent (recorded before columns were): the version is read.
   */
  columns?: string;
}

export interface TimeRangeInput {
  /** The version's Parquet bytes, verified. */
  bytes: Uint8Array;
  column: string;
}

/** The version's time range of `column`, reading that column only. */
export async function versionTimeRange(input: TimeRangeInput): Promise<VersionTimeRange> {
  let values;
  let columns: string;
  try {
    const bytes = asBuffer(input.bytes);
    columns = JSON.stringify(parquetColumnTypes(bytes));
    const table = await readParquet(bytes, { columns: [input.column] });
    values = table.columns.find((column) => column.name === input.column)?.values;
  } catch {
    return { column: input.column, unreadable: true };
  }
  if (!values) return { column: input.column, unreadable: true };
  let minMs = Number.POSITIVE_INFINITY;
  let maxMs = Number.NEGATIVE_INFINITY;
  for (const value of values) {
    const time = timeValueMs(value);
    if (Number.isNaN(time)) continue;
    if (time < minMs) minMs = time;
    if (time > maxMs) maxMs = time;
  }
  return minMs <= maxMs ? { column: input.column, minMs, maxMs, columns } : { column: input.column, columns };
}

/** {@link versionTimeRange} on a worker thread (a version's column is decoded there, off the event loop). */
export const timeRangeTask = defineWorkerTask(__filename, 'timeRangeTask', versionTimeRange);
