import { serviceEnvSchema } from '@keel/config';

/** Environment of the ingestion service (see libs/config for the shared variables and their defaults). */
export const ingestionEnvSchema = serviceEnvSchema({ httpPort: 3001 });
