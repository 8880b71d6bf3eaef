import { Injectable } from '@nestjs/common';
import { type EventData, type PredictionLoggedV1 } from '@keel/contracts';
import { Infrastructure, MetricsService } from '@keel/service-runtime';
import { Counter } from 'prom-client';
import { DriftService } from '../drift/drift.service';
import { PredictionLogRepository, type PredictionLogDocument } from './prediction-log.repository';
import { assignWindows } from './windows';

/** What logging one event did. */
export interface LogOutcome {
  logged: number;
  duplicates: number;
  /** Predictions of this model version numbered so far (not read when the event logged nothing new). */
  count?: number;
}

/**
 * Logs served predictions durably, numbers them into drift windows per model version, merges them into their
 * windows' summaries and evaluates windows that are full. Redelivery has one effect: prediction ids another event
 * logged are neither counted nor written again, and a retried event gets the same numbers and merges once. Every
 * database call is an `_id` lookup or write; the prediction log is never read back.
 */
@Injectable()
export class PredictionsService {
  private readonly loggedTotal: Counter<'pipeline'>;

  constructor(
    private readonly infra: Infrastructure,
    private readonly logs: PredictionLogRepository,
    private readonly drift: DriftService,
    metrics: MetricsService,
  ) {
    this.loggedTotal = new Counter({
      name: 'keel_monitoring_predictions_logged_total',
      help: 'Predictions written to the prediction log',
      labelNames: ['pipeline'],
      registers: [metrics.registry],
    });
  }

  async log(eventId: string, event: EventData<typeof PredictionLoggedV1>): Promise<LogOutcome> {
    const { spec } = await this.infra.pipelines.get(event.pipelineId);
    // First occurrence of each prediction id only (a request may repeat one; the first wins).
    const seen = new Set<string>();
    const predictions = event.predictions.filter(
      (prediction) => !seen.has(prediction.predictionId) && seen.add(prediction.predictionId),
    );
    const servedAt = new Date(event.servedAt);
    const loggedAt = new Date();
    const documents: PredictionLogDocument[] = predictions.map((prediction) => ({
      _id: prediction.predictionId,
      pipelineId: event.pipelineId,
      modelName: event.modelName,
      modelVersion: event.modelVersion,
      requestId: event.requestId,
      predictionId: prediction.predictionId,
      eventId,
      servedAt,
      inputsJson: JSON.stringify(prediction.inputs),
      outputsJson: JSON.stringify(prediction.outputs),
      loggedAt,
    }));
    const fresh = (await this.logs.insertNew(documents)).map((index) => predictions[index]);
    if (fresh.length === 0) return { logged: 0, duplicates: event.predictions.length };
    this.loggedTotal.inc({ pipeline: event.pipelineId }, fresh.length);

    const { allocation, counter } = await this.logs.allocate(
      event.pipelineId,
      event.modelVersion,
      eventId,
      fresh.length,
      spec.monitoring.windowRows,
    );
    // Rows of one event that spill over two windows are split between them.
    const windowIndexes = assignWindows(allocation.before, allocation.added, counter.windowRows);
    const byWindow = new Map<number, (typeof fresh)[number]['inputs'][]>();
    fresh.slice(0, allocation.added).forEach((prediction, i) => {
      const rows = byWindow.get(windowIndexes[i]) ?? [];
      rows.push(prediction.inputs);
      byWindow.set(windowIndexes[i], rows);
    });
    for (const [windowIndex, inputs] of byWindow) {
      await this.drift.merge({
        pipelineId: event.pipelineId,
        modelName: event.modelName,
        modelVersion: event.modelVersion,
        windowIndex,
        eventId,
        servedAt,
        inputs,
      });
    }
    await this.drift.evaluateReady(spec, event.modelVersion, counter);
    return { logged: fresh.length, duplicates: event.predictions.length - fresh.length, count: counter.count };
  }

  countFor(pipelineId: string): Promise<number> {
    return this.logs.countFor(pipelineId);
  }
}
