import { serviceEnvSchema } from '@keel/config';
import { workerEnvShape } from '@keel/workers';
import { z } from 'zod';
import { DEFAULT_MAX_PAGE_BYTES } from './sources/http-reader';

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
  /**
   * Largest page an HTTP source's API may answer, in bytes (decoded): a page is held whole and parsed before its rows
   * are counted against maxRows, so a larger one fails the pull, committing nothing.
   */
  INGESTION_HTTP_MAX_PAGE_BYTES: z.coerce.number().int().positive().default(DEFAULT_MAX_PAGE_BYTES),
  /** How often the source scheduler looks for sources whose pull interval (spec sources[].everyMs) has passed. */
  INGESTION_SOURCE_CHECK_MS: z.coerce.number().int().positive().default(1_000),
});

export type IngestionConfig = z.infer<typeof ingestionEnvSchema>;
