import { serviceEnvSchema } from '@keel/config';
import { workerEnvShape } from '@keel/workers';

/** Environment of the validation service (see libs/config for the shared variables and their defaults). */
export const validationEnvSchema = serviceEnvSchema({ httpPort: 3002 }).extend(workerEnvShape);
