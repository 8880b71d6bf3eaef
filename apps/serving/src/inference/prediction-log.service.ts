import { setTimeout as sleep } from 'node:timers/promises';
import { Inject, Injectable, type BeforeApplicationShutdown } from '@nestjs/common';
import { type EventData, PredictionLoggedV1 } from '@keel/contracts';
import { isRetryable } from '@keel/messaging';
import { Infrastructure, ROOT_LOGGER, SERVICE_CONFIG } from '@keel/service-runtime';
import { context, type Context } from '@opentelemetry/api';
import { type Logger } from 'pino';
import { type ServingConfig } from '../config';
import { type ModelOutputs } from '../models/loaded-model';
import { InferenceMetrics } from './inference-metrics';
import { type InputRow } from './tensor-codec';

type PredictionLog = EventData<typeof PredictionLoggedV1>;

/** What one answered request contributes to the prediction log. */
export interface ServedBatch {
  pipelineId: string;
  requestId: string;
  modelVersion: number;
  servedAt: Date;
  rows: readonly InputRow[];
  outputs: ModelOutputs;
}

/** Rows per event, the contract's maximum. */
export const LOG_CHUNK_ROWS = 1_000;
/** Bytes of predictions per event, well under the contract's 1 MiB so wide rows still fit. */
const LOG_CHUNK_BYTES = 768 * 1024;

/**
 * Splits a served batch into contract-sized events. Event i of a request has CloudEvent id
 * `predictions-<pipeline>-v<version>-<request id>-<i>`: the request id is the client's, so only with the model it
 * answered for does it name one effect (two models may each be sent request id "1").
 */
export function predictionLogEvents(batch: ServedBatch): { id: string; data: PredictionLog }[] {
  const names = Object.keys(batch.outputs);
  const events: { id: string; data: PredictionLog }[] = [];
  let predictions: PredictionLog['predictions'] = [];
  let bytes = 0;
  const flush = () => {
    if (predictions.length === 0) return;
    events.push({
      id: `predictions-${batch.pipelineId}-v${batch.modelVersion}-${batch.requestId}-${events.length}`,
      data: {
        pipelineId: batch.pipelineId as PredictionLog['pipelineId'],
        requestId: batch.requestId,
        modelName: batch.pipelineId,
        modelVersion: batch.modelVersion,
        servedAt: batch.servedAt.toISOString(),
        predictions,
      },
    });
    predictions = [];
    bytes = 0;
  };
  batch.rows.forEach((inputs, i) => {
    const outputs: Record<string, number | string> = {};
    for (const name of names) outputs[name] = batch.outputs[name][i];
    const prediction = { predictionId: `${batch.requestId}-${i}`, inputs, outputs };
    const size = JSON.stringify(prediction).length;
    if (predictions.length >= LOG_CHUNK_ROWS || (predictions.length > 0 && bytes + size > LOG_CHUNK_BYTES)) flush();
    predictions.push(prediction);
    bytes += size;
  });
  flush();
  return events;
}

/**
 * Publishes mlops.predictions.logged.v1 off the response path: scheduled after the answer is sent, retried with
 * backoff, and on final failure logged with the request id and counted, never silently dropped. Publishes run in
 * the request's trace context, so monitoring's work joins the request's trace.
 */
@Injectable()
export class PredictionLogService implements BeforeApplicationShutdown {
  private readonly logger: Logger;
  private readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly infra: Infrastructure,
    private readonly metrics: InferenceMetrics,
    @Inject(SERVICE_CONFIG) private readonly config: ServingConfig,
    @Inject(ROOT_LOGGER) rootLogger: Logger,
  ) {
    this.logger = rootLogger.child({ component: 'prediction-log' });
  }

  /** Schedules the batch's events; returns at once. `trace` is the request's context. */
  schedule(batch: ServedBatch, trace: Context = context.active()): void {
    const done: Promise<void> = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => context.with(trace, () => this.publishAll(batch)))
      .finally(() => this.pending.delete(done));
    this.pending.add(done);
  }

  /** Lets logs of answered requests go out before the producer disconnects. */
  async beforeApplicationShutdown(): Promise<void> {
    await Promise.allSettled([...this.pending]);
  }

  private async publishAll(batch: ServedBatch): Promise<void> {
    let events: { id: string; data: PredictionLog }[];
    try {
      events = predictionLogEvents(batch);
    } catch (error) {
      this.lost(batch, 'all', error);
      return;
    }
    await Promise.all(events.map((event) => this.publishWithRetries(batch, event)));
  }

  private async publishWithRetries(batch: ServedBatch, event: { id: string; data: PredictionLog }): Promise<void> {
    const attempts = this.config.PREDICTION_LOG_ATTEMPTS;
    for (let attempt = 1; ; attempt++) {
      try {
        // A stable id per chunk: a retry that did reach Kafka is deduplicated by consumers.
        await this.infra.publisher.publish(PredictionLoggedV1, event.data, { id: event.id });
        return;
      } catch (error) {
        if (attempt >= attempts || !isRetryable(error)) return this.lost(batch, event.id, error);
        this.logger.warn(
          { requestId: batch.requestId, eventId: event.id, attempt, err: (error as Error).message },
          'publishing prediction log failed, retrying',
        );
        await sleep(this.config.PREDICTION_LOG_BACKOFF_MS * 2 ** (attempt - 1));
      }
    }
  }

  private lost(batch: ServedBatch, eventId: string, error: unknown): void {
    this.metrics.logsLost.inc({ model: batch.pipelineId });
    this.logger.error(
      {
        requestId: batch.requestId,
        eventId,
        model: batch.pipelineId,
        modelVersion: batch.modelVersion,
        rows: batch.rows.length,
        err: (error as Error).message,
      },
      'prediction log lost after every retry',
    );
  }
}
