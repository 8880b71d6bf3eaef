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
  /**
   * How often every model's aliases are resynced with the registry, so missed alias events and versions that could
   * not load during an outage converge without a restart.
   */
  MODEL_RESYNC_INTERVAL_MS: z.coerce.number().int().min(1_000).default(30_000),
  /**
   * How long one chunk of prediction logs keeps being retried (capped exponential backoff) before it is counted as
   * lost: long enough to outlast a broker outage or restart.
   */
  PREDICTION_LOG_RETRY_BUDGET_MS: z.coerce.number().int().min(0).default(600_000),
  /** First backoff between publish attempts; doubles each time up to PREDICTION_LOG_MAX_BACKOFF_MS. */
  PREDICTION_LOG_BACKOFF_MS: z.coerce.number().int().min(0).default(200),
  PREDICTION_LOG_MAX_BACKOFF_MS: z.coerce.number().int().min(0).default(10_000),
  /**
   * Rows of answered requests whose logs may wait in memory for the broker; beyond it new logs are dropped and
   * counted rather than letting an outage grow memory without bound (inference itself never waits on logging).
   */
  PREDICTION_LOG_MAX_PENDING_ROWS: z.coerce.number().int().min(1).default(200_000),
  /**
   * Rows of one model version, across requests, per prediction-log event (mlops.predictions.logged.v2); a batch also
   * closes at about 640 KiB, under the contract's 1 MiB.
   */
  PREDICTION_LOG_BATCH_MAX_ROWS: z.coerce.number().int().min(1).max(100_000).default(5_000),
  /** Longest a served row waits in its batch before the batch is published. */
  PREDICTION_LOG_BATCH_MAX_DELAY_MS: z.coerce.number().int().min(0).default(200),
});

export type ServingConfig = z.infer<typeof servingEnvSchema>;
