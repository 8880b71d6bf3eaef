import { Injectable } from '@nestjs/common';
import { type EventData, type PredictionLoggedV1 } from '@keel/contracts';
import { Infrastructure, MetricsService } from '@keel/service-runtime';
import { Counter } from 'prom-client';
import { DriftService } from '../drift/drift.service';
import { predictionKey } from '../prediction-key';
import { PredictionLogRepository, type PredictionLogDocument } from './prediction-log.repository';

/** What logging one event did. */
export interface LogOutcome {
  logged: number;
  duplicates: number;
  /** Predictions of this model version numbered so far (not read when the event logged nothing new). */
  count?: number;
}

/**
 * Logs served predictions durably, once per pipeline and prediction id, and hands the rows this event logged on to drift.
 * Redelivery has one effect: prediction ids another event logged are neither written nor handed on again, and a
 * retried event hands on the same rows. The prediction log is never read back on this path.
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
      _id: predictionKey(event.pipelineId, prediction.predictionId),
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

    const count = await this.drift.record(spec, {
      eventId,
      pipelineId: event.pipelineId,
      modelName: event.modelName,
      modelVersion: event.modelVersion,
      servedAt,
      inputs: fresh.map((prediction) => prediction.inputs),
    });
    return { logged: fresh.length, duplicates: event.predictions.length - fresh.length, count };
  }

  countFor(pipelineId: string): Promise<number> {
    return this.logs.countFor(pipelineId);
  }
}
