import { Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { ModelTrainedV1 } from '@keel/contracts';
import { Infrastructure } from '@keel/service-runtime';
import { ModelRegistrationService } from './model-registration.service';

/** Consumes mlops.model.trained.v1: decoding, validation, retries and DLQ are the messaging lib's; we delegate. */
@Injectable()
export class ModelTrainedConsumer implements OnApplicationBootstrap {
  constructor(
    private readonly infra: Infrastructure,
    private readonly registration: ModelRegistrationService,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const consumer = this.infra.createConsumer('models');
    // Runs inside the consumer span, so the events published here continue the training run's trace.
    consumer.on(ModelTrainedV1, async (event) => void (await this.registration.register(event.data)));
    await consumer.start();
  }
}
