import { type DatasetColumnSpec, type SourceCleaning } from '@keel/contracts';
import { defineWorkerTask, movableBuffers, transferResult } from '@keel/workers';
import { encodeCleanedRows } from '../cleaning/cleaned-chunk';
import { pgDeadRecord } from './dead-rows';
import { type PulledField } from './postgres-reader';

export interface DeadRowsInput {
  pipelineId: string;
  schema: DatasetColumnSpec[];
  cleaning?: SourceCleaning;
  fields: PulledField[][];
  /** The rows to check again: `fields[row.fields]` are the types of `row.row`. */
  rows: { label: string; row: string; fields: number }[];
  maxRejections: number;
}

export interface DeadRowsOutcome {
  /** Parquet of the rows that pass now; empty when none does. */
  parquet: Uint8Array;
  sha256: string;
  goodRows: number;
  /** The rows (by index) refused again, with the reason. */
  refused: { index: number; reason: string }[];
  rejections: string[];
}

/**
 * Dead rows through the source's cleaning (if any) and the dataset's checks of the spec as it is now, into one
 * version's Parquet: what the pull did with them, done again. Rows a cleaning step drops now are neither kept nor
 * refused.
 */
export function encodeDeadRows(input: DeadRowsInput): DeadRowsOutcome {
  const refused: { index: number; reason: string }[] = [];
  const rows = input.rows.map((item) => ({
    label: item.label,
    record: pgDeadRecord(input.fields[item.fields], item.row),
  }));
  const encoded = encodeCleanedRows(
    input.pipelineId,
    input.schema,
    input.cleaning ?? {},
    rows,
    input.maxRejections,
    (index, reason) => refused.push({ index, reason }),
  );
  const { parquet, sha256, goodRows, rejections } = encoded;
  return { parquet, sha256, goodRows, refused, rejections };
}

/** {@link encodeDeadRows} on a worker thread (a replay checks and encodes up to thousands of rows). */
export const deadRowsTask = defineWorkerTask<DeadRowsInput, DeadRowsOutcome>(__filename, 'deadRowsTask', (input) => {
  const outcome = encodeDeadRows(input);
  return transferResult(outcome, movableBuffers(outcome.parquet));
});
