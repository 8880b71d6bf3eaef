import { z } from 'zod';
import { ModelVersionNumber, PipelineId } from '../common';
import { defineEvent } from '../event-contract';

/** Most rows one event may carry; the 1 MiB byte cap usually binds first. */
export const PREDICTION_LOG_MAX_ROWS = 100_000;

const ColumnName = z.string().min(1);

/**
 * An array whose every element passes `valid`; the first bad element is reported with its index. One plain loop per
 * column rather than a schema per element: a batch holds hundreds of thousands of cells, and monitoring validates
 * every batch it reads.
 */
function arrayOf<T>(valid: (value: unknown) => value is T, expected: string) {
  return z
    .custom<T[]>((value) => Array.isArray(value), { message: 'must be an array' })
    .superRefine((values, ctx) => {
      for (let i = 0; i < values.length; i++) {
        if (!valid(values[i])) {
          ctx.addIssue({ code: 'custom', path: [i], message: `must be ${expected}, got ${JSON.stringify(values[i])}` });
          return;
        }
      }
    });
}

const isNonEmptyString = (value: unknown): value is string => typeof value === 'string' && value.length > 0;
const isEpochMs = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;
const isInputValue = (value: unknown): value is number | string | null =>
  value === null || typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value));
const isOutputValue = (value: unknown): value is number | string =>
  typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value));

/** One input feature's values, row by row; null where the request sent none. */
const InputColumn = arrayOf(isInputValue, 'a number, a string or null');
/** One model output's values, row by row (e.g. `probability`, `label`, `prediction`). */
const OutputColumn = arrayOf(isOutputValue, 'a number or a string');

/**
 * Serving answered one or more inference requests of one model version; their rows are logged together, column by
 * column, so monitoring reads thousands of rows per event. Row i of the batch is `predictionIds[i]`, served for request
 * `requestIds[i]` at `servedAt[i]`, with input values `inputs[name][i]` and outputs `outputs[name][i]`.
 */
export const PredictionLoggedV2 = defineEvent({
  topic: 'mlops.predictions.logged.v2',
  description: 'A batch of served predictions of one model version, across requests, as columns, for monitoring',
  schema: z
    .object({
      pipelineId: PipelineId,
      modelName: z.string().min(1),
      modelVersion: ModelVersionNumber,
      /**
       * Unique per serving instance and batch (e.g. `<instance id>-<sequence>`): the idempotency key, so a batch
       * published twice is counted once.
       */
      batchId: z.string().min(1).max(200),
      /** Number of rows; every per-row array and every column has exactly this length. */
      rows: z.number().int().min(1).max(PREDICTION_LOG_MAX_ROWS),
      /** Join key for labels that arrive later, unique per pipeline. */
      predictionIds: arrayOf(isNonEmptyString, 'a non-empty string'),
      /** The client's request id of each row (the server's when the client sent none), for correlation. */
      requestIds: arrayOf(isNonEmptyString, 'a non-empty string'),
      /** When each row was served, epoch milliseconds. */
      servedAt: arrayOf(isEpochMs, 'an epoch millisecond count'),
      inputs: z.record(ColumnName, InputColumn),
      outputs: z.record(ColumnName, OutputColumn),
    })
    .superRefine((batch, ctx) => {
      const mismatch = (path: (string | number)[], length: number) =>
        ctx.addIssue({
          code: 'custom',
          path,
          message: `has ${length} values but the batch has ${batch.rows} rows`,
        });
      for (const field of ['predictionIds', 'requestIds', 'servedAt'] as const) {
        if (batch[field].length !== batch.rows) mismatch([field], batch[field].length);
      }
      for (const kind of ['inputs', 'outputs'] as const) {
        for (const [name, column] of Object.entries(batch[kind])) {
          if (column.length !== batch.rows) mismatch([kind, name], column.length);
        }
      }
    }),
  key: (data) => data.pipelineId,
  maxBytes: 1024 * 1024,
});
