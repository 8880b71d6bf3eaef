import { serviceEnvSchema } from '@keel/config';
import { workerEnvShape } from '@keel/workers';
import { type z } from 'zod';

/** Environment of the training service (see libs/config for the shared variables and their defaults). */
export const trainingEnvSchema = serviceEnvSchema({ httpPort: 3004 }).extend(workerEnvShape);

export type TrainingConfig = z.infer<typeof trainingEnvSchema>;
