import { serviceEnvSchema } from '@keel/config';
import { workerEnvShape } from '@keel/workers';
import { z } from 'zod';

/** Environment of the training service (see libs/config for the shared variables and their defaults). */
export const trainingEnvSchema = serviceEnvSchema({ httpPort: 3004 }).extend({
  ...workerEnvShape,
  /** Training requests with the same dedupeKey within this window are one request (drift alerts repeat). */
  TRAINING_REQUEST_COOLDOWN_MS: z.coerce.number().int().nonnegative().default(3_600_000),
});

export type TrainingConfig = z.infer<typeof trainingEnvSchema>;
