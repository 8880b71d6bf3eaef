import { type EventLoopUtilization, performance } from 'node:perf_hooks';
import { type LoadedModel, type ModelOutputs } from '../models/loaded-model';
import { PREDICTION_CHUNK_ROWS, predictInChunks } from './chunked-prediction';
import { type InputColumn, type InputColumns } from './tensor-codec';

/** How requests for one model version coalesce: up to `maxRows` rows, waiting at most `maxDelayMs` for more. */
export interface BatchingPolicy {
  /** Rows at which a batch is scored at once; 1 turns batching off (every request is scored on its own). */
  maxRows: number;
  /**
   * Longest the first request of a batch waits for others. 0 coalesces only the requests that arrived in the same
   * turn of the event loop (those read from the sockets together), adding no wait, and only while the loop is busy
   * (see {@link BUSY_UTILIZATION}).
   */
  maxDelayMs: number;
}

/**
 * With no wait configured (maxDelayMs 0), requests are held for the end of the event loop's turn only while the loop
 * is busy: more than this share of the last {@link BUSY_WINDOW_MS} spent running. A saturated server reads requests
 * together, and scoring them as one batch saves model calls; a server with time to spare answers each at once, since
 * holding a request costs a setImmediate and an extra turn of the loop (a poll of the sockets) before its answer can
 * be written, more than the batch saves when few requests share a turn.
 */
export const BUSY_UTILIZATION = 0.75;
/** How often the event loop's utilization is read, at most (a read is a few hundred nanoseconds). */
export const BUSY_WINDOW_MS = 100;

type Utilization = (a?: EventLoopUtilization, b?: EventLoopUtilization) => EventLoopUtilization;

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
  private busy = false;
  /** When the utilization was last read: never, so the first request reads it (since the batcher was made). */
  private windowStart = Number.NEGATIVE_INFINITY;
  private windowMark: EventLoopUtilization;

  constructor(
    private readonly policyOf: (model: LoadedModel) => BatchingPolicy,
    private readonly now: () => number = () => performance.now(),
    private readonly utilization: Utilization = (a, b) => performance.eventLoopUtilization(a, b),
    /** Rows scored per turn of the event loop: larger requests and batches are scored in chunks (issue 13). */
    private readonly chunkRows = PREDICTION_CHUNK_ROWS,
  ) {
    this.windowMark = utilization();
  }

  /**
   * The model's outputs for `inputs`: synchronously when batching is off, the request fills a batch alone, or no wait
   * is configured and the event loop has time to spare.
   */
  predict(model: LoadedModel, inputs: InputColumns): ModelOutputs | Promise<ModelOutputs> {
    const policy = this.policyOf(model);
    if (policy.maxRows <= 1 || inputs.rows >= policy.maxRows) return this.score(model, inputs);
    if (policy.maxDelayMs === 0 && !this.loopBusy() && !this.open.has(model)) return this.score(model, inputs);
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

  /** Whether the event loop ran more than BUSY_UTILIZATION of the last window, read at most once a window. */
  private loopBusy(): boolean {
    const at = this.now();
    if (at - this.windowStart >= BUSY_WINDOW_MS) {
      const mark = this.utilization();
      this.busy = this.utilization(mark, this.windowMark).utilization > BUSY_UTILIZATION;
      this.windowMark = mark;
      this.windowStart = at;
    }
    return this.busy;
  }

  /** Requests waiting in open batches, for the in-flight bound and shutdown. */
  get waitingRequests(): number {
    let count = 0;
    for (const batch of this.open.values()) count += batch.waiting.length;
    return count;
  }

  /**
   * The model's outputs: at once up to `chunkRows` rows (every single-row and usual batched call), else in chunks
   * with a turn of the event loop between them, so no request at the row limit holds the loop for its whole scoring.
   */
  private score(model: LoadedModel, inputs: InputColumns): ModelOutputs | Promise<ModelOutputs> {
    return inputs.rows > this.chunkRows ? predictInChunks(model, inputs, this.chunkRows) : model.predict(inputs);
  }

  private flush(model: LoadedModel, batch: OpenBatch): void {
    if (this.open.get(model) === batch) this.open.delete(model);
    clearTimeout(batch.timer);
    if (batch.immediate) clearImmediate(batch.immediate);
    const { waiting } = batch;
    if (waiting.length === 0) return;
    if (waiting.length === 1) return this.settle(model, waiting[0]);
    const answer = (outputs: ModelOutputs) => {
      let offset = 0;
      for (const request of waiting) {
        const end = offset + request.inputs.rows;
        request.resolve(sliceOutputs(outputs, offset, end));
        offset = end;
      }
    };
    const retryOneByOne = () => {
      for (const request of waiting) this.settle(model, request);
    };
    let outputs: ModelOutputs | Promise<ModelOutputs>;
    try {
      outputs = this.score(model, concatColumns(waiting.map((w) => w.inputs)));
    } catch {
      return retryOneByOne();
    }
    if (outputs instanceof Promise) outputs.then(answer, retryOneByOne);
    else answer(outputs);
  }

  private settle(model: LoadedModel, request: Waiting): void {
    try {
      const outputs = this.score(model, request.inputs);
      if (outputs instanceof Promise) outputs.then(request.resolve, request.reject);
      else request.resolve(outputs);
    } catch (error) {
      request.reject(error);
    }
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
