import { serviceEnvSchema } from '@keel/config';

/** Environment of the serving service (see libs/config for the shared variables and their defaults). */
export const servingEnvSchema = serviceEnvSchema({ httpPort: 3006, grpcPort: 8001 });
