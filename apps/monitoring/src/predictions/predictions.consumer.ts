import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { PredictionLoggedV1 } from '@keel/contracts';
import { Infrastructure, ROOT_LOGGER } from '@keel/service-runtime';
import { KeelAttr } from '@keel/telemetry';
import { trace } from '@opentelemetry/api';
import { type Logger } from 'pino';
import { PredictionsService } from './predictions.service';

/** Consumes mlops.predictions.logged.v1 (group `monitoring.predictions`) and delegates to the service. */
@Injectable()
export class PredictionsConsumer implements OnApplicationBootstrap {
  private readonly logger: Logger;

  constructor(
    private readonly infra: Infrastructure,
    private readonly predictions: PredictionsService,
    @Inject(ROOT_LOGGER) logger: Logger,
  ) {
    this.logger = logger.child({ component: 'predictions-consumer' });
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.infra
      .createConsumer('predictions', { partitionsConsumedConcurrently: 3 })
      .on(PredictionLoggedV1, async ({ id, data }) => {
        trace.getActiveSpan()?.setAttributes({
          [KeelAttr.PIPELINE_ID]: data.pipelineId,
          [KeelAttr.MODEL_NAME]: data.modelName,
          [KeelAttr.MODEL_VERSION]: data.modelVersion,
          [KeelAttr.BATCH_SIZE]: data.predictions.length,
        });
        const outcome = await this.predictions.log(id, data);
        this.logger.debug({ pipelineId: data.pipelineId, requestId: data.requestId, ...outcome }, 'predictions logged');
      })
      .start();
  }
}
