import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { MessageChannel, type Transferable } from 'node:worker_threads';
import { KeelAttr, withSpan } from '@keel/telemetry';
import { Piscina } from 'piscina';
import { type Logger } from 'pino';
import { TASK_END, type TaskMessage, type TaskOutcome } from './worker-entry';
import { WorkerTaskError } from './worker-errors';
import { type WorkerProgress, type WorkerTask } from './worker-task';

export interface WorkerPoolOptions {
  /** Most worker threads running at once; tasks beyond that wait in the pool's queue. */
  threads: number;
  /** Where progress is logged; nothing is logged without one. */
  logger?: Logger;
  /** How long an idle worker is kept for the next task before its thread exits (a new one compiles its modules). */
  idleTimeoutMs?: number;
}

export interface RunOptions {
  /** Aborting cancels the task: a queued task never starts, a running one has its worker thread terminated. */
  signal?: AbortSignal;
  /** Buffers in the input to move to the worker instead of copying (large inputs); unusable here afterwards. */
  transferList?: readonly Transferable[];
  /** Span attributes of the task's span, e.g. the pipeline id. */
  attributes?: Record<string, string | number | boolean>;
}

/** A sensible default thread count: the cores less one for the event loop, at least one, at most four. */
export function defaultWorkerThreads(): number {
  return Math.min(4, Math.max(1, availableParallelism() - 1));
}

const ENTRY = join(__dirname, `worker-entry${__filename.endsWith('.ts') ? '.ts' : '.js'}`);

/** Options that load code, which a worker needs as much as the main thread (each takes a value). */
const LOADER_OPTIONS = new Set([
  '-r',
  '--require',
  '--import',
  '--loader',
  '--experimental-loader',
  '-C',
  '--conditions',
]);

/**
 * Services run TypeScript through `node -r @swc-node/register`, and a worker needs the same hook. Only the options
 * that load code are passed on: a worker refuses per-process options such as `--max-old-space-size`
 * (ERR_WORKER_INVALID_EXEC_ARGV). Where the parent compiled its code some other way (vitest), the hook is added.
 */
export function workerExecArgv(parent: readonly string[] = process.execArgv): string[] {
  const argv: string[] = [];
  for (let i = 0; i < parent.length; i++) {
    const arg = parent[i];
    if (LOADER_OPTIONS.has(arg) && i + 1 < parent.length) argv.push(arg, parent[++i]);
    else if ([...LOADER_OPTIONS].some((option) => arg.startsWith(`${option}=`))) argv.push(arg);
    else if (arg === '--enable-source-maps') argv.push(arg);
  }
  if (ENTRY.endsWith('.ts') && !argv.some((arg) => arg.includes('@swc-node/register'))) {
    argv.push('--require', '@swc-node/register');
  }
  return argv;
}

/**
 * The one worker-thread pool of a service: heavy work (training, parsing, feature builds, drift statistics) runs
 * here so the event loop keeps answering Kafka heartbeats and health probes. Built on piscina; every task runs in its
 * own span (`worker <task>`), which gets the worker's progress updates as events, and a failure comes back as a
 * {@link WorkerTaskError} with the original error's name, code and retryable flag.
 */
export class WorkerPool {
  private readonly piscina: Piscina;

  constructor(private readonly options: WorkerPoolOptions) {
    this.piscina = new Piscina({
      filename: ENTRY,
      minThreads: 0,
      maxThreads: options.threads,
      idleTimeout: options.idleTimeoutMs ?? 300_000,
      execArgv: workerExecArgv(),
      // Idle workers wait on their message port rather than blocking in Atomics.wait, so a task may await.
      atomics: 'disabled',
    });
  }

  get threads(): number {
    return this.options.threads;
  }

  /** Runs a task in a worker thread and resolves with its result; rejects with a WorkerTaskError, or an AbortError. */
  async run<I, O>(task: WorkerTask<I, O>, input: I, options: RunOptions = {}): Promise<O> {
    return withSpan(
      `worker ${task.name}`,
      { [KeelAttr.WORKER_TASK]: task.name, ...options.attributes },
      async (span) => {
        const channel = new MessageChannel();
        let progressEnded!: () => void;
        // Messages on a port arrive in order: the end marker comes after every update of the task (or the port
        // closes, if the worker died).
        const progressDelivered = new Promise<void>((resolve) => {
          progressEnded = resolve;
          channel.port1.once('close', resolve);
        });
        channel.port1.on('message', (update: WorkerProgress | typeof TASK_END) => {
          if (update === TASK_END) {
            channel.port1.close();
            progressEnded();
            return;
          }
          span.addEvent('worker.progress', {
            [KeelAttr.WORKER_STAGE]: update.stage,
            ...(update.done !== undefined ? { [KeelAttr.WORKER_DONE]: update.done } : {}),
            ...(update.total !== undefined ? { [KeelAttr.WORKER_TOTAL]: update.total } : {}),
          });
          this.options.logger?.info({ task: task.name, ...update }, 'worker progress');
        });
        const message: TaskMessage = { module: task.module, name: task.name, input, progress: channel.port2 };
        let outcome: TaskOutcome;
        try {
          outcome = (await this.piscina.run(message, {
            signal: options.signal,
            transferList: [channel.port2, ...(options.transferList ?? [])] as never,
          })) as TaskOutcome;
        } catch (error) {
          channel.port1.close();
          throw error;
        }
        await progressDelivered;
        if (!outcome.ok) throw new WorkerTaskError(task.name, outcome.error);
        span.setAttribute(KeelAttr.WORKER_THREAD_ID, outcome.threadId);
        return outcome.value as O;
      },
    );
  }

  /**
   * Loads a task's module in a worker thread without running it: a new thread compiles its modules first, which
   * takes seconds, so a service or a test can pay that before the first real task.
   */
  async warm<I, O>(task: WorkerTask<I, O>): Promise<void> {
    const channel = new MessageChannel();
    const message: TaskMessage = {
      module: task.module,
      name: task.name,
      input: undefined,
      progress: channel.port2,
      warm: true,
    };
    try {
      const outcome = (await this.piscina.run(message, { transferList: [channel.port2] as never })) as TaskOutcome;
      if (!outcome.ok) throw new WorkerTaskError(task.name, outcome.error);
    } finally {
      channel.port1.close();
    }
  }

  /** Lets running tasks finish, then ends every worker thread. */
  async close(): Promise<void> {
    await this.piscina.close();
  }
}
