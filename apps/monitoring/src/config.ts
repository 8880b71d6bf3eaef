import { serviceEnvSchema } from '@keel/config';
import { z } from 'zod';

/** Environment of the monitoring service (see libs/config for the shared variables and their defaults). */
export const monitoringEnvSchema = serviceEnvSchema({ httpPort: 3007 }).extend({
  /** The registry's gRPC address, asked for the package of a model version (its drift reference). */
  REGISTRY_GRPC_URL: z.string().min(1).default('127.0.0.1:50051'),
});

export type MonitoringConfig = z.infer<typeof monitoringEnvSchema>;
