import { serviceEnvSchema } from '@keel/config';

/** Environment of the registry service (see libs/config for the shared variables and their defaults). */
export const registryEnvSchema = serviceEnvSchema({ httpPort: 3005, grpcPort: 50051 });
