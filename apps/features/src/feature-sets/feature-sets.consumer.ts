import { Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { DatasetValidatedV1 } from '@keel/contracts';
import { Infrastructure } from '@keel/service-runtime';
import { FeatureSetsService } from './feature-sets.service';

/** Consumes `dataset.validated` (group `features.datasets`) and delegates to the service. */
@Injectable()
export class FeatureSetsConsumer implements OnApplicationBootstrap {
  constructor(
    private readonly infra: Infrastructure,
    private readonly service: FeatureSetsService,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const consumer = this.infra.createConsumer('datasets');
    consumer.on(DatasetValidatedV1, async (event) => {
      await this.service.materialize(event.data);
    });
    await consumer.start();
  }
}
