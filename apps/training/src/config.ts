import { serviceEnvSchema } from '@keel/config';
import { workerEnvShape } from '@keel/workers';
import { z } from 'zod';

/** Environment of the training service (see libs/config for the shared variables and their defaults). */
export const trainingEnvSchema = serviceEnvSchema({ httpPort: 3004 })
  .extend(workerEnvShape)
  .extend({
    /** Search trials in flight at once; unset: one per worker thread. */
    TRAINING_SEARCH_CONCURRENCY: z.coerce.number().int().min(1).max(64).optional(),
  });

export type TrainingConfig = z.infer<typeof trainingEnvSchema>;
