import { serviceEnvSchema } from '@keel/config';

/** Environment of the training service (see libs/config for the shared variables and their defaults). */
export const trainingEnvSchema = serviceEnvSchema({ httpPort: 3004 });
