import { serviceEnvSchema } from '@keel/config';
import { workerEnvShape } from '@keel/workers';
import { z } from 'zod';
import { type BatchingPolicy } from './inference/adaptive-batcher';
import { DEFAULT_TRACE_SAMPLE_RATIO } from './inference/inference-sampling';

/** Environment of the serving service (see libs/config for the shared variables and their defaults). */
/** Requests are bounded in bytes (GRPC_MAX_RECEIVE_BYTES, 16 MiB here; HTTP_MAX_JSON_BYTES over REST), rows and concurrency. */
export const servingEnvSchema = serviceEnvSchema({
  httpPort: 3006,
  grpcPort: 8001,
  grpcMaxReceiveBytes: 16 * 1024 * 1024,
}).extend({
  // Worker threads (WORKER_THREADS) parse online views off the event loop; started on first use.
  ...workerEnvShape,
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
  /**
   * Adaptive batching: concurrent requests for one model version are scored together up to this many rows (1: each
   * request on its own). A request with at least this many rows is scored at once.
   */
  SERVING_BATCH_MAX_ROWS: z.coerce.number().int().min(1).max(100_000).default(256),
  /**
   * Longest a request waits for others to join its batch. 0 (the default) coalesces only the requests that arrived
   * together (in one turn of the event loop), adding no wait, and only while the loop is busy (over 75 % of the last
   * 100 ms): a server with time to spare scores each request at once.
   */
  SERVING_BATCH_MAX_DELAY_MS: z.coerce.number().int().min(0).max(1_000).default(0),
  /**
   * Per-model batching overrides as JSON, by model (pipeline id): `{"adult-income": {"maxRows": 64, "maxDelayMs": 2}}`;
   * a model not named uses SERVING_BATCH_MAX_ROWS and SERVING_BATCH_MAX_DELAY_MS.
   */
  SERVING_BATCHING_PER_MODEL: z
    .string()
    .default('{}')
    .transform((text, ctx) => {
      try {
        return perModelBatching.parse(JSON.parse(text));
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: `not a JSON map of model to {maxRows, maxDelayMs}: ${String(error)}` });
        return z.NEVER;
      }
    }),
  /**
   * Admission control (inference/admission.ts): most inference calls being answered at once (a full batch of
   * single-row calls, SERVING_BATCH_MAX_ROWS, is scored at once); beyond it calls fail fast with RESOURCE_EXHAUSTED
   * (HTTP 429 with Retry-After) before any work is done for them.
   */
  SERVING_MAX_IN_FLIGHT_REQUESTS: z.coerce.number().int().min(1).default(256),
  /**
   * Admission control: how late serving's event loop may run (the queue of calls read and not yet answered) before new
   * calls are refused with RESOURCE_EXHAUSTED (HTTP 429), so an overload is shed at once instead of queueing for
   * seconds. 0 turns the check off.
   */
  SERVING_MAX_QUEUE_DELAY_MS: z.coerce.number().int().min(0).max(60_000).default(250),
  /**
   * Admission control: share of the time serving's event loop may be busy, over a second, before new calls are
   * refused with RESOURCE_EXHAUSTED (HTTP 429). A loop that never waits for input is saturated, and under open-loop
   * traffic the calls it has not read yet queue in its sockets, where no other measure sees them. Off (1) by default:
   * closed-loop clients at full throughput saturate the loop too, without any queue, and would be refused calls that
   * are answered promptly.
   */
  SERVING_MAX_EVENT_LOOP_UTILIZATION: z.coerce.number().gt(0).max(1).default(1),
  /**
   * Most entities the online views of joined feature tables may hold together in memory (online/online-views.ts); a
   * view that would exceed it is not loaded (logged once per view version) and requests that need it answer
   * RESOURCE_EXHAUSTED (HTTP 507) naming the view and this variable. Views are
   * parsed on the worker pool into a compact index (README: about 50 MB per 1,000,000 entities of two features), so
   * the default lets a champion and a challenger on different join definitions each hold a 1,000,000-entity view.
   */
  SERVING_MAX_ONLINE_ENTITIES: z.coerce.number().int().min(1).default(2_000_000),
  /**
   * Largest online view file (its JSON) serving downloads and parses; a larger one is not loaded (logged once per
   * view version) and requests that need it answer RESOURCE_EXHAUSTED (HTTP 507) naming the view and this variable.
   * Bounds the bytes a view load holds at once.
   */
  SERVING_MAX_ONLINE_VIEW_BYTES: z.coerce.number().int().min(1_024).default(67_108_864),
  /** Most rows one request may carry; more is INVALID_ARGUMENT (HTTP 400). */
  SERVING_MAX_ROWS_PER_REQUEST: z.coerce.number().int().min(1).max(1_000_000).default(10_000),
  /**
   * Fraction of inference requests traced when the caller sends no trace context (a caller's sampled traceparent is
   * always followed); read by telemetry at start (inference-tracing.ts), validated here.
   */
  SERVING_TRACE_SAMPLE_RATIO: z.coerce.number().min(0).max(1).default(DEFAULT_TRACE_SAMPLE_RATIO),
  /**
   * How often this instance reports what it saw of each rollout step it routed (mlops.model.rollout-observed.v1:
   * baseline and candidate requests, failures, latencies, prediction samples) for the registry's analysis.
   */
  ROLLOUT_OBSERVATION_INTERVAL_MS: z.coerce.number().int().min(100).max(600_000).default(5_000),
});

const perModelBatching = z.record(
  z.string().min(1),
  z
    .object({
      maxRows: z.number().int().min(1).max(100_000).optional(),
      maxDelayMs: z.number().int().min(0).max(1_000).optional(),
    })
    .strict(),
);

export type ServingConfig = z.infer<typeof servingEnvSchema>;

/** The batching policy of each model: its override, else the server-wide settings. */
export function batchingPolicies(config: ServingConfig): (model: string) => BatchingPolicy {
  const fallback = { maxRows: config.SERVING_BATCH_MAX_ROWS, maxDelayMs: config.SERVING_BATCH_MAX_DELAY_MS };
  const overrides = new Map(
    Object.entries(config.SERVING_BATCHING_PER_MODEL).map(([model, policy]) => [model, { ...fallback, ...policy }]),
  );
  return (model) => overrides.get(model) ?? fallback;
}
