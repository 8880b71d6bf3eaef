import { Injectable } from '@nestjs/common';
import { type EventData, type PredictionLoggedV1 } from '@keel/contracts';
import { Infrastructure, MetricsService } from '@keel/service-runtime';
import { Counter } from 'prom-client';
import { DriftService } from '../drift/drift.service';
import { PredictionLogRepository, type PredictionLogDocument } from './prediction-log.repository';
import { assignWindows, fullWindows } from './windows';
import { DriftWindowRepository } from '../drift/drift-window.repository';

/** What logging one event did. */
export interface LogOutcome {
  logged: number;
  duplicates: number;
  /** Predictions of this model version numbered so far. */
  count: number;
}

/**
 * Logs served predictions durably, numbers them into drift windows per model version, and hands full windows to
 * drift evaluation. Redelivery has one effect: known prediction ids are neither counted nor written again.
 */
@Injectable()
export class PredictionsService {
  private readonly loggedTotal: Counter<'pipeline'>;

  constructor(
    private readonly infra: Infrastructure,
    private readonly logs: PredictionLogRepository,
    private readonly windows: DriftWindowRepository,
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

  async log(event: EventData<typeof PredictionLoggedV1>): Promise<LogOutcome> {
    const { spec } = await this.infra.pipelines.get(event.pipelineId);
    const ids = event.predictions.map((prediction) => prediction.predictionId);
    const known = await this.logs.windowsOf(ids);
    // New predictions, first occurrence only (a request may repeat an id; the first one wins, like the log's upsert).
    const seen = new Set(known.keys());
    const fresh = event.predictions.filter(
      (prediction) => !seen.has(prediction.predictionId) && seen.add(prediction.predictionId),
    );

    const counter = await this.logs.advance(
      event.pipelineId,
      event.modelVersion,
      fresh.length,
      spec.monitoring.windowRows,
    );
    const windowIndexes = assignWindows(counter.count - fresh.length, fresh.length, counter.windowRows);
    const loggedAt = new Date();
    const documents: PredictionLogDocument[] = fresh.map((prediction, i) => ({
      pipelineId: event.pipelineId,
      modelName: event.modelName,
      modelVersion: event.modelVersion,
      requestId: event.requestId,
      predictionId: prediction.predictionId,
      servedAt: new Date(event.servedAt),
      inputsJson: JSON.stringify(prediction.inputs),
      outputsJson: JSON.stringify(prediction.outputs),
      windowIndex: windowIndexes[i],
      loggedAt,
    }));
    await this.windows.ensureOpen(event.pipelineId, event.modelVersion, [...new Set(windowIndexes)]);
    await this.logs.insertMissing(documents);
    this.loggedTotal.inc({ pipeline: event.pipelineId }, documents.length);

    await this.drift.evaluateFullWindows(spec, event.modelVersion, fullWindows(counter.count, counter.windowRows));
    return { logged: documents.length, duplicates: event.predictions.length - documents.length, count: counter.count };
  }

  countFor(pipelineId: string): Promise<number> {
    return this.logs.countFor(pipelineId);
  }
}
