import { envList, serviceEnvSchema } from '@keel/config';
import { workerEnvShape } from '@keel/workers';
import { z } from 'zod';

/** Environment of the monitoring service (see libs/config for the shared variables and their defaults). */
export const monitoringEnvSchema = serviceEnvSchema({ httpPort: 3007 }).extend({
  ...workerEnvShape,
  /** The registry's gRPC address, asked for the package of a model version (its drift reference). */
  REGISTRY_GRPC_URL: z.string().min(1).default('127.0.0.1:50051'),
  /**
   * How often the prediction stream checkpoints each partition it owns (its state, the consumed offset and the
   * archive of the rows since the last one): one document write per partition and interval, whatever the rows. A
   * crash replays at most this much of the log.
   */
  PREDICTION_CHECKPOINT_INTERVAL_MS: z.coerce.number().int().min(100).max(600_000).default(1_000),
  /** Readiness fails while the prediction-log records not yet applied (all owned partitions) exceed this. */
  PREDICTION_LAG_READY_MAX_RECORDS: z.coerce.number().int().positive().default(10_000),
  /** Archived predictions (and prediction logs of earlier releases) older than this are deleted by the retention sweep. */
  PREDICTION_LOG_RETENTION_HOURS: z.coerce
    .number()
    .positive()
    .default(30 * 24),
  /** How often the replica holding the label-join lease joins the labels waiting for it (all pipelines, in bulk). */
  LABEL_JOIN_INTERVAL_MS: z.coerce.number().int().min(50).max(600_000).default(1_000),
  /**
   * How long a label whose prediction is not in the archive yet waits for it (the archive trails serving by a
   * checkpoint interval, a stream that is behind by its lag) before it is counted as unmatched.
   */
  LABEL_JOIN_WAIT_MS: z.coerce
    .number()
    .int()
    .min(0)
    .default(15 * 60 * 1000),
  /** Labels one round joins per pipeline at most (the rest wait for the next round). */
  LABEL_JOIN_BATCH: z.coerce.number().int().min(1).max(100_000).default(20_000),
  /** Labels older than this (by when they were received) are deleted by the retention sweep. */
  LABEL_LOG_RETENTION_HOURS: z.coerce
    .number()
    .positive()
    .default(90 * 24),
  /**
   * Join outcomes (`label_joins`, one per labelled prediction) settled longer ago than this are deleted; never before
   * the prediction itself leaves the archive (PREDICTION_LOG_RETENTION_HOURS, whichever is longer), or a label sent
   * again for it would be joined twice.
   */
  LABEL_JOIN_RETENTION_HOURS: z.coerce
    .number()
    .positive()
    .default(90 * 24),
  /**
   * Closed label windows (`performance_windows`) older than this are deleted, and so is the performance state of a
   * model version (`performance_states`) no label has reached for this long (with nothing left to publish).
   */
  PERFORMANCE_RETENTION_HOURS: z.coerce
    .number()
    .positive()
    .default(90 * 24),
  /** Drift windows closed (evaluated or failed) longer ago than this are deleted, with their revisions. */
  DRIFT_WINDOW_RETENTION_HOURS: z.coerce
    .number()
    .positive()
    .default(90 * 24),
  /** How often one replica (the holder of the retention lease) sweeps. */
  RETENTION_SWEEP_INTERVAL_MS: z.coerce
    .number()
    .int()
    .min(1_000)
    .default(60 * 60 * 1000),
  /**
   * Where alerts are POSTed besides the alerts topic: comma-separated http(s) URLs, each request signed with
   * HMAC-SHA256 of its body under ALERT_WEBHOOK_SECRET (header `X-Keel-Signature-256: sha256=<hex>`). Empty: none.
   */
  ALERT_WEBHOOK_URLS: envList.default([]),
  /** The webhooks' signing secret, at least 32 characters; required when ALERT_WEBHOOK_URLS is set. */
  ALERT_WEBHOOK_SECRET: z.string().optional(),
  /** Attempts per webhook and alert (capped exponential backoff between them) before the alert is retried later. */
  ALERT_WEBHOOK_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(20).default(6),
  /** One webhook request's timeout. */
  ALERT_WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(5_000),
});

export type MonitoringConfig = z.infer<typeof monitoringEnvSchema>;
