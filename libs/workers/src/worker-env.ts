import { z } from 'zod';
import { defaultWorkerThreads } from './worker-pool';

/**
 * The environment variable a service with a worker pool adds to its config schema
 * (`serviceEnvSchema(...).extend(workerEnvShape)`).
 */
export const workerEnvShape = {
  /** Worker threads for heavy work (training, parsing, feature builds, drift statistics). */
  WORKER_THREADS: z.coerce.number().int().min(1).max(64).default(defaultWorkerThreads()),
};

export type WorkerConfig = { WORKER_THREADS: number };
