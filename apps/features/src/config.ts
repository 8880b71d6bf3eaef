import { serviceEnvSchema } from '@keel/config';
import { workerEnvShape } from '@keel/workers';

/** Environment of the features service (see libs/config for the shared variables and their defaults). */
export const featuresEnvSchema = serviceEnvSchema({ httpPort: 3003 }).extend(workerEnvShape);
