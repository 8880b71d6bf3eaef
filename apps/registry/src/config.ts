import { serviceEnvSchema } from '@keel/config';
import { workerEnvShape } from '@keel/workers';

/** Environment of the registry service (see libs/config for the shared variables and their defaults). */
export const registryEnvSchema = serviceEnvSchema({ httpPort: 3005, grpcPort: 50051 }).extend(workerEnvShape);
