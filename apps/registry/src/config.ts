import { envBoolean, serviceEnvSchema } from '@keel/config';
import { workerEnvShape } from '@keel/workers';
import { z } from 'zod';

/** Environment of the registry service (see libs/config for the shared variables and their defaults). */
export const registryEnvSchema = serviceEnvSchema({ httpPort: 3005, grpcPort: 50051 })
  .extend(workerEnvShape)
  .extend({
    /** How often active rollouts are checked for an elapsed bake time and analysed. */
    ROLLOUT_TICK_INTERVAL_MS: z.coerce.number().int().positive().default(5_000),
    /**
     * How long serving's reports of a rollout step are kept once their rollout is no longer active (an active
     * rollout's reports stay whatever their age: its analysis reads them). Swept every hour.
     */
    ROLLOUT_OBSERVATION_RETENTION_HOURS: z.coerce.number().positive().default(168),
    /**
     * Reject a trained model whose event names no feature set to recompute its holdout metrics on: a forged
     * `model.trained` naming none must not be judged on what it claims. `false` (for tests of alias mechanics with
     * hand-made events) judges such an event on its claims and records it as unverified.
     */
    REGISTRY_REQUIRE_VERIFIED_METRICS: envBoolean.default(true),
    /**
     * Monitoring's HTTP base URL: a rollout's analysis compares the candidate's accuracy on labelled feedback with the
     * champion's, on predictions served in the current step (monitoring's closed label windows). Unset: the analysis
     * uses serving's reports alone.
     */
    MONITORING_HTTP_URL: z.url().optional(),
    /**
     * gRPC address of the staging environment's serving: a rollout in `staging` is tried there (the candidate must
     * load and answer the spec's sample requests within its p99 budget) before it enters production. Unset: staging
     * waits for a result posted to `POST /api/v1/models/<model>/rollout/staging-result`.
     */
    STAGING_SERVING_GRPC_URL: z.string().min(1).optional(),
  });

export type RegistryConfig = z.infer<typeof registryEnvSchema>;
