import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { PredictionLoggedV1 } from '@keel/contracts';
import { Infrastructure, ROOT_LOGGER } from '@keel/service-runtime';
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
        trace
          .getActiveSpan()
          ?.setAttributes({ 'keel.pipeline.id': data.pipelineId, 'keel.model.version': data.modelVersion });
        const outcome = await this.predictions.log(id, data);
        this.logger.debug({ pipelineId: data.pipelineId, requestId: data.requestId, ...outcome }, 'predictions logged');
      })
      .start();
  }
}
