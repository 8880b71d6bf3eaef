import { serviceEnvSchema } from '@keel/config';

/** Environment of the validation service (see libs/config for the shared variables and their defaults). */
export const validationEnvSchema = serviceEnvSchema({ httpPort: 3002 });
