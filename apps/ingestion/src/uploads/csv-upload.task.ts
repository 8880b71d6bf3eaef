import { type MessagePort } from 'node:worker_threads';
import { datasetSchema, type PipelineSpecV1 } from '@keel/contracts';
import { type DatasetTable } from '@keel/datasets';
import { defineWorkerTask, movableBuffers, transferResult, type WorkerTaskContext } from '@keel/workers';
import { datasetParquet } from '../datasets/dataset-parquet';
import { checkRecord } from '../records/record-checks';
import { checkHeader, CsvError, CsvParser } from './csv';

/** Problems listed in a rejection; the count says how many there were in all. */
export const MAX_LISTED_PROBLEMS = 20;

/** How often parsing reports progress, in rows. */
const PROGRESS_EVERY_ROWS = 100_000;

/** What the uploader sends down the body port: the file's bytes piece by piece, then its end (or a cancel). */
export type CsvBodyMessage = { chunk: Uint8Array } | { end: true } | { cancel: true };

export interface CsvUploadInput {
  spec: PipelineSpecV1;
  /** Receives {@link CsvBodyMessage}s. */
  body: MessagePort;
}

/** What became of an uploaded file: a dataset version's Parquet, or why the file is not one. */
export type CsvUploadOutcome =
  | { kind: 'encoded'; parquet: Uint8Array; rowCount: number }
  | { kind: 'malformed'; problem: string }
  | { kind: 'no-rows' }
  | { kind: 'rejected'; badCount: number; rowCount: number; issues: string[] }
  | { kind: 'cancelled' };

/** The body's messages as they arrive, until its end; undefined when the uploader cancelled. */
async function* bodyChunks(port: MessagePort): AsyncGenerator<Uint8Array, boolean> {
  const queue: CsvBodyMessage[] = [];
  let wake: (() => void) | undefined;
  port.on('message', (message: CsvBodyMessage) => {
    queue.push(message);
    wake?.();
  });
  try {
    for (;;) {
      while (queue.length === 0) await new Promise<void>((resolve) => (wake = resolve));
      const message = queue.shift()!;
      if ('cancel' in message) return false;
      if ('end' in message) return true;
      yield message.chunk;
    }
  } finally {
    port.close();
  }
}

/**
 * Parses an uploaded CSV file as it streams in, checks every row against the pipeline's dataset schema (the same
 * checks as Kafka records, so an empty field is a missing value), and encodes the dataset version's Parquet when
 * every row passed. A file is all or nothing: any bad row rejects it, with the first problems listed.
 */
export async function encodeCsvUpload(
  spec: PipelineSpecV1,
  chunks: AsyncGenerator<Uint8Array, boolean>,
  { progress }: Pick<WorkerTaskContext, 'progress'>,
): Promise<CsvUploadOutcome> {
  const schema = datasetSchema(spec);
  const values: (number | string | null)[][] = schema.map(() => []);
  const issues: string[] = [];
  let badCount = 0;
  let rowCount = 0;
  let header: string[] | undefined;
  let wanted: { name: string; index: number }[] = [];
  const parser = new CsvParser((fields, line) => {
    if (!header) {
      header = checkHeader(fields);
      const names = header;
      const required = schema.filter((column) => column.role !== 'attribute' || !column.nullable);
      const missing = required.filter((column) => !names.includes(column.name)).map((column) => column.name);
      if (missing.length > 0)
        throw new CsvError(1, `the header lacks columns the spec requires: ${missing.join(', ')}`);
      wanted = schema.map((column) => ({ name: column.name, index: names.indexOf(column.name) }));
      return;
    }
    if (fields.length !== header.length) {
      throw new CsvError(line, `expected ${header.length} fields, found ${fields.length}`);
    }
    rowCount++;
    const record: Record<string, string | null> = {};
    for (const { name, index } of wanted) if (index >= 0) record[name] = fields[index] === '' ? null : fields[index];
    const result = checkRecord(schema, record);
    if (result.ok) {
      if (badCount === 0) schema.forEach((column, c) => values[c].push(result.record[column.name]));
    } else {
      badCount++;
      if (issues.length < MAX_LISTED_PROBLEMS) issues.push(`line ${line}: ${result.reason}`);
    }
    if (rowCount % PROGRESS_EVERY_ROWS === 0) progress({ stage: 'parse', done: rowCount });
  });
  const decoder = new TextDecoder('utf-8');
  try {
    for (;;) {
      const next = await chunks.next();
      if (next.done) {
        if (!next.value) return { kind: 'cancelled' };
        break;
      }
      parser.push(decoder.decode(next.value, { stream: true }));
    }
    parser.push(decoder.decode());
    parser.end();
  } catch (error) {
    if (error instanceof CsvError) return { kind: 'malformed', problem: error.message };
    throw error;
  } finally {
    await chunks.return(false);
  }
  if (rowCount === 0) return { kind: 'no-rows' };
  if (badCount > 0) return { kind: 'rejected', badCount, rowCount, issues };
  progress({ stage: 'encode', done: rowCount, total: rowCount });
  const table: DatasetTable = {
    rowCount,
    columns: schema.map(({ name, type }, c) => ({ name, type, values: values[c] })),
  };
  return { kind: 'encoded', parquet: datasetParquet(spec, table), rowCount };
}

/** {@link encodeCsvUpload} on a worker thread, reading the file from the body port; the Parquet moves back. */
export const csvUploadTask = defineWorkerTask<CsvUploadInput, CsvUploadOutcome>(
  __filename,
  'csvUploadTask',
  async (input: CsvUploadInput, context: WorkerTaskContext) => {
    const outcome = await encodeCsvUpload(input.spec, bodyChunks(input.body), context);
    return outcome.kind === 'encoded' ? transferResult(outcome, movableBuffers(outcome.parquet)) : outcome;
  },
);
