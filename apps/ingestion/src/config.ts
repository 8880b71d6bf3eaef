import { serviceEnvSchema } from '@keel/config';
import { workerEnvShape } from '@keel/workers';
import { z } from 'zod';

/** Environment of the ingestion service (see libs/config for the shared variables and their defaults). */
export const ingestionEnvSchema = serviceEnvSchema({ httpPort: 3001 }).extend({
  ...workerEnvShape,
  /** How often the flush timer looks for pipelines whose staged records went quiet (spec.ingestion.flushAfterMs). */
  INGESTION_FLUSH_CHECK_MS: z.coerce.number().int().positive().default(500),
  /** Largest upload (CSV, JSON Lines, Parquet) accepted, in bytes. */
  INGESTION_MAX_UPLOAD_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(100 * 1024 * 1024),
  /**
   * PostgreSQL that the spec's postgres sources read unless a source names another variable (`urlEnv`); the local
   * stack's is postgres://keel@127.0.0.1:5432/keel. No default: a deployment names its own database.
   */
  POSTGRES_URL: z.string().url().optional(),
  /** How often the source scheduler looks for sources whose pull interval (spec sources[].everyMs) has passed. */
  INGESTION_SOURCE_CHECK_MS: z.coerce.number().int().positive().default(1_000),
});

export type IngestionConfig = z.infer<typeof ingestionEnvSchema>;
