// Public API of @keel/workers: the one worker-thread pool for heavy work, and how tasks are declared for it.
export { type RunOptions, WorkerPool, type WorkerPoolOptions, defaultWorkerThreads } from './worker-pool';
export {
  defineWorkerTask,
  transferResult,
  type TransferredResult,
  type WorkerProgress,
  type WorkerTask,
  type WorkerTaskContext,
  type WorkerTaskFunction,
} from './worker-task';
export { asBuffer, movableBuffers } from './transfer';
export { WorkerTaskError } from './worker-errors';
export { type WorkerConfig, workerEnvShape } from './worker-env';
export { WorkersModule } from './workers.module';
