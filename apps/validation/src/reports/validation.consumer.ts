import { Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { DatasetIngestedV1 } from '@keel/contracts';
import { Infrastructure } from '@keel/service-runtime';
import { ValidationService } from './validation.service';

/** Subscribes to mlops.dataset.ingested.v1; the messaging lib validates, deduplicates, retries and dead-letters. */
@Injectable()
export class ValidationConsumer implements OnApplicationBootstrap {
  constructor(
    private readonly infra: Infrastructure,
    private readonly validation: ValidationService,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const consumer = this.infra.createConsumer('datasets');
    consumer.on(DatasetIngestedV1, async (event) => void (await this.validation.validate(event.data)));
    await consumer.start();
  }
}
