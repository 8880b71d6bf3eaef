import { type Transferable } from 'node:worker_threads';

/** A step a worker reports while it works: what it is doing and, when it knows, how far it got. */
export interface WorkerProgress {
  /** Short name of the step, e.g. `parse`, `train gbdt`. */
  stage: string;
  /** Units done so far (rows, iterations); with `total`, a fraction. */
  done?: number;
  total?: number;
}

/** What a task's function gets besides its input. */
export interface WorkerTaskContext {
  /** Sends a progress update to the caller, which logs it and adds it to its span as an event. */
  progress(update: WorkerProgress): void;
}

/** A result together with the buffers to move (not copy) back to the caller; see {@link transferResult}. */
export interface TransferredResult<O> {
  readonly [TRANSFERRED]: true;
  readonly value: O;
  readonly transferList: readonly Transferable[];
}

const TRANSFERRED = Symbol.for('keel.workers.transferred');

/**
 * Marks a task's result so that the listed buffers move to the caller instead of being copied: for large typed
 * arrays and encoded files. The buffers are unusable in the worker afterwards.
 */
export function transferResult<O>(value: O, transferList: readonly Transferable[]): TransferredResult<O> {
  return { [TRANSFERRED]: true, value, transferList };
}

export function isTransferredResult(value: unknown): value is TransferredResult<unknown> {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[TRANSFERRED] === true;
}

/** The function a task runs in a worker thread. */
export type WorkerTaskFunction<I, O> = (
  input: I,
  context: WorkerTaskContext,
) => O | TransferredResult<O> | Promise<O | TransferredResult<O>>;

/**
 * A unit of heavy work that runs in a worker thread: the module that defines it, under which export, and the
 * function itself. Input and output cross the thread boundary by structured clone, so they are plain data (objects,
 * arrays, typed arrays, Buffers), never class instances with behaviour.
 */
export interface WorkerTask<I, O> {
  /** Absolute path of the module whose export this task is (its `__filename`). */
  readonly module: string;
  /** The name it is exported under from that module. */
  readonly name: string;
  readonly run: WorkerTaskFunction<I, O>;
}

/**
 * Declares a task. Call it at the top level of a module and export the result under `name`, passing the module's
 * own `__filename`: the worker loads that module and runs the export, so the module must not start anything when
 * imported (no Nest module, no connections), only define functions.
 *
 * ```ts
 * export const parseCsvTask = defineWorkerTask(__filename, 'parseCsvTask', (input: ParseInput, { progress }) => ...);
 * ```
 */
export function defineWorkerTask<I, O>(module: string, name: string, run: WorkerTaskFunction<I, O>): WorkerTask<I, O> {
  return { module, name, run };
}
