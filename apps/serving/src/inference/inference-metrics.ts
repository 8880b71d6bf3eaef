import { Injectable } from '@nestjs/common';
import { MetricsService } from '@keel/service-runtime';
import { Counter, Gauge, Histogram } from 'prom-client';

/** Prometheus metrics of ModelInfer and of prediction logging. */
@Injectable()
export class InferenceMetrics {
  readonly requests: Counter<'model' | 'status'>;
  readonly latency: Histogram<'model' | 'status'>;
  readonly rows: Counter<'model'>;
  readonly logsLost: Counter<'model' | 'reason'>;
  readonly logsPendingRows: Gauge;
  readonly callsAbandoned: Counter<'code'>;
  readonly callsShed: Counter<'reason'>;
  readonly inFlight: Gauge;
  private inFlightNow: () => number = () => 0;
  private readonly pendingCalls = new Map<string, Map<string, number>>();
  private readonly pendingRows = new Map<string, number>();
  private pendingRowsNow: () => number = () => 0;
  readonly logBatches: Counter<'model'>;
  readonly routeFallbacks: Counter<'model'>;
  readonly mirrorFailures: Counter<'model' | 'reason'>;

  constructor(metrics: MetricsService) {
    const registers = [metrics.registry];
    this.requests = new Counter({
      name: 'keel_serving_infer_requests_total',
      help: 'ModelInfer calls by model and gRPC status',
      labelNames: ['model', 'status'],
      registers,
      collect: () => this.flushCalls(),
    });
    this.latency = new Histogram({
      name: 'keel_serving_infer_duration_seconds',
      help: 'ModelInfer latency in the service (decode, predict, encode) by model and gRPC status',
      labelNames: ['model', 'status'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers,
    });
    this.rows = new Counter({
      name: 'keel_serving_rows_predicted_total',
      help: 'Rows predicted by ModelInfer',
      labelNames: ['model'],
      registers,
      collect: () => this.flushRows(),
    });
    this.logsLost = new Counter({
      name: 'keel_serving_prediction_logs_failed_total',
      help: 'Rows of answered requests whose prediction logs were not published: retry budget spent, unretryable, or dropped because the backlog was full',
      labelNames: ['model', 'reason'],
      registers,
    });
    this.callsAbandoned = new Counter({
      name: 'keel_serving_calls_abandoned_total',
      help: 'gRPC calls answered CANCELLED or DEADLINE_EXCEEDED without the work: cancelled or past their deadline when their turn came',
      labelNames: ['code'],
      registers,
    });
    this.callsShed = new Counter({
      name: 'keel_serving_calls_shed_total',
      help: 'Inference calls refused with RESOURCE_EXHAUSTED (HTTP 429) before any work: too many in flight, or the event loop running too late',
      labelNames: ['reason'],
      registers,
    });
    this.inFlight = new Gauge({
      name: 'keel_serving_in_flight_requests',
      help: 'Inference calls admitted and not yet answered',
      registers,
      // Read at scrape time rather than set on every call.
      collect: () => this.inFlight.set(this.inFlightNow()),
    });
    this.logsPendingRows = new Gauge({
      name: 'keel_serving_prediction_log_pending_rows',
      help: 'Rows of answered requests whose prediction logs are waiting to be published',
      registers,
      // Read at scrape time rather than set on every call.
      collect: () => this.logsPendingRows.set(this.pendingRowsNow()),
    });
    this.routeFallbacks = new Counter({
      name: 'keel_serving_route_fallbacks_total',
      help: 'Requests a rollout routed to a version not loaded here, answered by the champion instead',
      labelNames: ['model'],
      registers,
    });
    this.mirrorFailures = new Counter({
      name: 'keel_serving_mirror_failures_total',
      help:
        'Mirrored requests whose mirror version failed to score them (never seen by the caller), by reason: ' +
        'view-unavailable (an online view its own joins read is not loaded), input (its own decoding or ' +
        'preprocessing refused the request), scoring (anything else)',
      labelNames: ['model', 'reason'],
      registers,
    });
    this.logBatches = new Counter({
      name: 'keel_serving_prediction_log_batches_total',
      help: 'Prediction-log batches (mlops.predictions.logged.v2 events, rows of one model version across requests) published',
      labelNames: ['model'],
      registers,
    });
  }

  /**
   * Counts one inference call of `model` answered with `status` (keel_serving_infer_requests_total). Calls and rows
   * are summed here per label set and added to their counters when scraped: no label hashing per call.
   */
  countCall(model: string, status: string): void {
    let byStatus = this.pendingCalls.get(model);
    if (!byStatus) this.pendingCalls.set(model, (byStatus = new Map()));
    byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
  }

  /** Counts rows predicted for `model` (keel_serving_rows_predicted_total). */
  countRows(model: string, rows: number): void {
    this.pendingRows.set(model, (this.pendingRows.get(model) ?? 0) + rows);
  }

  private flushCalls(): void {
    for (const [model, byStatus] of this.pendingCalls) {
      for (const [status, count] of byStatus) this.requests.inc({ model, status }, count);
    }
    this.pendingCalls.clear();
  }

  private flushRows(): void {
    for (const [model, rows] of this.pendingRows) this.rows.inc({ model }, rows);
    this.pendingRows.clear();
  }

  /** Where the in-flight gauge reads its value when scraped. */
  readInFlightFrom(read: () => number): void {
    this.inFlightNow = read;
  }

  /** Where the pending prediction-log rows gauge reads its value when scraped. */
  readPendingRowsFrom(read: () => number): void {
    this.pendingRowsNow = read;
  }
}
