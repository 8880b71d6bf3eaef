import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { type ModelOutputs } from '../models/loaded-model';
import { type InputColumn, type InputColumns } from './tensor-codec';

/**
 * Rows scored in one turn of the event loop. A GBDT of 100 trees scores a row in 5-10 µs, so a request at the row
 * limit (10,000) scored at once held serving's loop 60-100 ms, and more on a busy machine (issue 13 bounds any one
 * input at 100 ms); 1,024 rows are 5-10 ms, and the single-row and batched paths (at most SERVING_BATCH_MAX_ROWS)
 * never reach it.
 */
export const PREDICTION_CHUNK_ROWS = 1_024;

/** What can score columns: a loaded model version. */
export interface ColumnPredictor {
  predict(inputs: InputColumns): ModelOutputs;
}

/**
 * The model's outputs for `inputs`, scored `chunkRows` rows at a time, each chunk in a turn of the event loop of its
 * own (the first too: decoding the request took the turn it came in), so other requests, probes and consumers run
 * meanwhile. The outputs are the same as one `predict` call's: numeric
 * columns copied into one Float64Array each, label columns concatenated. A chunk's error (an unknown category)
 * rejects the whole request, as one call would have thrown.
 */
export async function predictInChunks(
  model: ColumnPredictor,
  inputs: InputColumns,
  chunkRows = PREDICTION_CHUNK_ROWS,
): Promise<ModelOutputs> {
  if (inputs.rows <= chunkRows) return model.predict(inputs);
  const parts: ModelOutputs[] = [];
  for (let from = 0; from < inputs.rows; from += chunkRows) {
    await yieldToLoop();
    parts.push(model.predict(sliceColumns(inputs, from, Math.min(inputs.rows, from + chunkRows))));
  }
  // Joining is one copy per column: ~1 ms for 10,000 rows, so it stays in one turn.
  return concatOutputs(parts, inputs.rows);
}

/** Rows [from, to) of the columns: views of numeric columns (no copy), copies of text columns. */
export function sliceColumns(inputs: InputColumns, from: number, to: number): InputColumns {
  const columns: Record<string, InputColumn> = {};
  for (const [name, values] of Object.entries(inputs.columns)) {
    columns[name] = values instanceof Float64Array ? values.subarray(from, to) : values.slice(from, to);
  }
  return { rows: to - from, columns };
}

/** The chunks' outputs as one, in order; every chunk has the same output names. */
export function concatOutputs(parts: readonly ModelOutputs[], rows: number): ModelOutputs {
  const out: ModelOutputs = {};
  for (const name of Object.keys(parts[0])) {
    if (parts[0][name] instanceof Float64Array) {
      const column = new Float64Array(rows);
      let offset = 0;
      for (const part of parts) {
        const values = part[name] as Float64Array;
        column.set(values, offset);
        offset += values.length;
      }
      out[name] = column;
    } else {
      const column = new Array<string>(rows);
      let offset = 0;
      for (const part of parts) {
        const values = part[name] as readonly string[];
        for (let i = 0; i < values.length; i++) column[offset + i] = values[i];
        offset += values.length;
      }
      out[name] = column;
    }
  }
  return out;
}
