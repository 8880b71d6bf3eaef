import { type MessagePort, threadId } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { type SerializedError, serializeError } from './worker-errors';
import { isTransferredResult, type WorkerProgress, type WorkerTask } from './worker-task';

/** What the pool sends a worker for one task. */
export interface TaskMessage {
  module: string;
  name: string;
  input: unknown;
  /** Only load the task's module (see WorkerPool.warm). */
  warm?: boolean;
  /** Where progress updates go; moved to the worker with the task. */
  progress: MessagePort;
}

/** The last message on a task's progress port: every progress update before it has been delivered. */
export const TASK_END = 'keel-worker-task-end';

/** What a worker answers: the result, or the error as it was (code and retryable flag kept). */
export type TaskOutcome = { ok: true; value: unknown; threadId: number } | { ok: false; error: SerializedError };

function loadTask(module: string, name: string): WorkerTask<unknown, unknown> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the task module is only known at run time
  const task = (require(module) as Record<string, unknown>)[name] as WorkerTask<unknown, unknown> | undefined;
  if (typeof task?.run !== 'function') throw new Error(`${module} exports no worker task named ${name}`);
  return task;
}

/**
 * The pool's worker entry (piscina loads it in every worker thread): runs one task and answers its outcome. Errors
 * are answered, not thrown, because structured clone would drop their code and retryable flag.
 */
export default async function runTask(message: TaskMessage): Promise<unknown> {
  const { progress } = message;
  try {
    const task = loadTask(message.module, message.name);
    if (message.warm) return { ok: true, value: undefined, threadId } satisfies TaskOutcome;
    const result = await task.run(message.input, {
      progress: (update: WorkerProgress) => progress.postMessage(update),
    });
    if (isTransferredResult(result)) {
      const outcome: TaskOutcome = { ok: true, value: result.value, threadId };
      return Piscina.move({
        [Piscina.transferableSymbol]: [...result.transferList],
        [Piscina.valueSymbol]: outcome,
      } as never);
    }
    return { ok: true, value: result, threadId } satisfies TaskOutcome;
  } catch (error) {
    return { ok: false, error: serializeError(error) } satisfies TaskOutcome;
  } finally {
    // The pool answers a task once its progress is all delivered. It waited for this port's close, which could
    // reach it only after the next task queued on this thread had run (a PostgreSQL pull's chunks were answered in
    // pairs, each with the next: 2026-12-03); the marker goes out at once, behind every update.
    progress.postMessage(TASK_END);
    progress.close();
  }
}
