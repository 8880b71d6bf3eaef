import { Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { PredictionLoggedV1, PredictionLoggedV2 } from '@keel/contracts';
import { Infrastructure } from '@keel/service-runtime';
import { KeelAttr } from '@keel/telemetry';
import { trace } from '@opentelemetry/api';
import { upcastPredictionLog } from './prediction-log-upcast';

/**
 * Drains mlops.predictions.logged.v1 (group `<service>.predictions`, which keeps the offsets v1 monitoring reached)
 * into v2: each v1 event is republished as a v2 batch keyed by the same pipeline, under a stable event and batch id,
 * so the prediction stream is the one owner of every window and a redelivered v1 event is applied once.
 */
@Injectable()
export class PredictionsV1Relay implements OnApplicationBootstrap {
  constructor(private readonly infra: Infrastructure) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.infra
      .createConsumer('predictions')
      .on(PredictionLoggedV1, async ({ id, data }) => {
        trace.getActiveSpan()?.setAttributes({
          [KeelAttr.PIPELINE_ID]: data.pipelineId,
          [KeelAttr.MODEL_VERSION]: data.modelVersion,
          [KeelAttr.BATCH_SIZE]: data.predictions.length,
        });
        const batch = upcastPredictionLog(id, data);
        await this.infra.publisher.publish(PredictionLoggedV2, batch, { id: `predictions-${batch.batchId}` });
      })
      .start();
  }
}
