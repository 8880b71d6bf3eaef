import { serviceEnvSchema } from '@keel/config';

/** Environment of the monitoring service (see libs/config for the shared variables and their defaults). */
export const monitoringEnvSchema = serviceEnvSchema({ httpPort: 3007 });
