import { createHash } from 'node:crypto';
import { type ColumnType } from '@keel/contracts';
import { type DatasetTable } from '@keel/datasets';
import { defineWorkerTask, movableBuffers, transferResult } from '@keel/workers';
import { datasetParquet } from '../datasets/dataset-parquet';
import { type CleanCell, type CleanRecord, type CleanRows } from '../records/record-checks';
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
 * after staging) is null, one the schema lacks is left out, as for records staged before rows were.
 */
export function stagedTable(schema: CutEncodeInput['schema'], payloads: readonly StagedPayload[]): DatasetTable {
  const values: CleanCell[][] = schema.map(() => []);
  for (const payload of payloads) {
    if ('rowsJson' in payload) {
      // Rows this thread checked are taken as they are (their text would parse to the same, negative zeros aside).
      const cached = takeCheckedRows(payload.rowsJson);
      const { columns, rows } = cached ?? (JSON.parse(payload.rowsJson) as CleanRows);
      const at = schema.map(({ name }) => columns.indexOf(name));
      for (let c = 0; c < schema.length; c++) {
        const target = values[c];
        const from = at[c];
        if (from < 0) for (let r = 0; r < rows.length; r++) target.push(null);
        else if (cached) {
          for (const row of rows) {
            const value = row[from] ?? null;
            // `value === 0` holds for -0 too, which the staged text (hence a parse of it) holds as 0.
            target.push(value === 0 ? 0 : value);
          }
        } else for (const row of rows) target.push(row[from] ?? null);
      }
    } else {
      const records = JSON.parse(payload.recordsJson) as CleanRecord[];
      for (let c = 0; c < schema.length; c++) {
        const { name } = schema[c];
        for (const record of records) values[c].push(record[name] ?? null);
      }
    }
  }
  return {
    rowCount: values[0]?.length ?? 0,
    columns: schema.map(({ name, type }, c) => ({ name, type, values: values[c] })),
  };
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
