import { type LoadedModel, type ModelOutputs } from '../models/loaded-model';
import { type InputColumn, type InputColumns } from './tensor-codec';

/** How requests for one model version coalesce: up to `maxRows` rows, waiting at most `maxDelayMs` for more. */
export interface BatchingPolicy {
  /** Rows at which a batch is scored at once; 1 turns batching off (every request is scored on its own). */
  maxRows: number;
  /**
   * Longest the first request of a batch waits for others. 0 coalesces only the requests that arrived in the same
   * turn of the event loop (those read from the sockets together), adding no wait; a request that arrives alone is
   * then scored at once (see {@link ALONE_AFTER_MS}).
   */
  maxDelayMs: number;
}

/**
 * With no wait configured (maxDelayMs 0), a request arriving this long after the previous one, with no batch open for
 * its model, is taken to be alone and scored at once instead of at the end of the event loop's turn. Requests read
 * together arrive microseconds apart (their decoding is all that separates them), so under concurrency every request
 * but the first of a turn still coalesces; under light traffic none pays for the wait: a batch of one costs a
 * setImmediate and an extra turn of the loop (a poll of the sockets) before its answer can be written.
 */
export const ALONE_AFTER_MS = 0.25;

interface Waiting {
  inputs: InputColumns;
  resolve: (outputs: ModelOutputs) => void;
  reject: (error: unknown) => void;
}

interface OpenBatch {
  waiting: Waiting[];
  rows: number;
  timer?: NodeJS.Timeout;
  immediate?: NodeJS.Immediate;
}

/**
 * Adaptive batching (MLServer's and Triton's idea) over the columnar path: concurrent requests for one model version
 * are scored together, their columns concatenated once, and each gets its slice of the outputs back. A request that
 * fills a batch alone is scored at once. When a batch fails (one request's unknown category), its requests are
 * scored one by one so that only the faulty one fails.
 */
export class AdaptiveBatcher {
  private readonly open = new Map<LoadedModel, OpenBatch>();
  private lastArrival: number;

  constructor(
    private readonly policyOf: (model: LoadedModel) => BatchingPolicy,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.lastArrival = now();
  }

  /**
   * The model's outputs for `inputs`: synchronously when batching is off, the request fills a batch alone, or it
   * arrived alone with no wait configured.
   */
  predict(model: LoadedModel, inputs: InputColumns): ModelOutputs | Promise<ModelOutputs> {
    const policy = this.policyOf(model);
    if (policy.maxRows <= 1 || inputs.rows >= policy.maxRows) return model.predict(inputs);
    const arrived = this.now();
    const alone = arrived - this.lastArrival > ALONE_AFTER_MS;
    this.lastArrival = arrived;
    if (alone && policy.maxDelayMs === 0 && !this.open.has(model)) return model.predict(inputs);
    return new Promise<ModelOutputs>((resolve, reject) => {
      let batch = this.open.get(model);
      if (batch && batch.rows + inputs.rows > policy.maxRows) {
        this.flush(model, batch);
        batch = undefined;
      }
      if (!batch) {
        const opened: OpenBatch = { waiting: [], rows: 0 };
        if (policy.maxDelayMs > 0) opened.timer = setTimeout(() => this.flush(model, opened), policy.maxDelayMs);
        else opened.immediate = setImmediate(() => this.flush(model, opened));
        this.open.set(model, (batch = opened));
      }
      batch.waiting.push({ inputs, resolve, reject });
      batch.rows += inputs.rows;
      if (batch.rows >= policy.maxRows) this.flush(model, batch);
    });
  }

  /** Requests waiting in open batches, for the in-flight bound and shutdown. */
  get waitingRequests(): number {
    let count = 0;
    for (const batch of this.open.values()) count += batch.waiting.length;
    return count;
  }

  private flush(model: LoadedModel, batch: OpenBatch): void {
    if (this.open.get(model) === batch) this.open.delete(model);
    clearTimeout(batch.timer);
    if (batch.immediate) clearImmediate(batch.immediate);
    const { waiting } = batch;
    if (waiting.length === 0) return;
    if (waiting.length === 1) return settle(waiting[0], () => model.predict(waiting[0].inputs));
    let outputs: ModelOutputs;
    try {
      outputs = model.predict(concatColumns(waiting.map((w) => w.inputs)));
    } catch {
      for (const request of waiting) settle(request, () => model.predict(request.inputs));
      return;
    }
    let offset = 0;
    for (const request of waiting) {
      const end = offset + request.inputs.rows;
      request.resolve(sliceOutputs(outputs, offset, end));
      offset = end;
    }
  }
}

function settle(request: Waiting, predict: () => ModelOutputs): void {
  try {
    request.resolve(predict());
  } catch (error) {
    request.reject(error);
  }
}

/** Several requests' columns as one table, each column copied once. */
export function concatColumns(parts: readonly InputColumns[]): InputColumns {
  let rows = 0;
  for (const part of parts) rows += part.rows;
  const columns: Record<string, InputColumn> = {};
  for (const name of Object.keys(parts[0].columns)) {
    if (parts[0].columns[name] instanceof Float64Array) {
      const out = new Float64Array(rows);
      let offset = 0;
      for (const part of parts) {
        out.set(part.columns[name] as Float64Array, offset);
        offset += part.rows;
      }
      columns[name] = out;
    } else {
      const out = new Array<string | null>(rows);
      let offset = 0;
      for (const part of parts) {
        const values = part.columns[name];
        for (let i = 0; i < part.rows; i++) out[offset + i] = values[i] as string | null;
        offset += part.rows;
      }
      columns[name] = out;
    }
  }
  return { rows, columns };
}

/** Rows [from, to) of a batch's outputs: views of numeric columns, copies of label columns. */
function sliceOutputs(outputs: ModelOutputs, from: number, to: number): ModelOutputs {
  const out: ModelOutputs = {};
  for (const [name, values] of Object.entries(outputs)) {
    out[name] = values instanceof Float64Array ? values.subarray(from, to) : values.slice(from, to);
  }
  return out;
}
