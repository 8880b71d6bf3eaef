import { serviceEnvSchema } from '@keel/config';
import { z } from 'zod';

/** Environment of the serving service (see libs/config for the shared variables and their defaults). */
export const servingEnvSchema = serviceEnvSchema({ httpPort: 3006, grpcPort: 8001 }).extend({
  /** gRPC address of the registry, asked which versions each model's aliases point at. */
  REGISTRY_GRPC_URL: z.string().min(1).default('127.0.0.1:50051'),
  /** Attempts to load one model version (download, parse, smoke prediction) before giving up on it. */
  MODEL_LOAD_ATTEMPTS: z.coerce.number().int().min(1).max(20).default(4),
  /** First backoff between load attempts; doubles each time. */
  MODEL_LOAD_BACKOFF_MS: z.coerce.number().int().min(0).default(500),
  /** Attempts to publish one chunk of prediction logs before counting it as lost. */
  PREDICTION_LOG_ATTEMPTS: z.coerce.number().int().min(1).max(20).default(5),
  PREDICTION_LOG_BACKOFF_MS: z.coerce.number().int().min(0).default(200),
});

export type ServingConfig = z.infer<typeof servingEnvSchema>;
