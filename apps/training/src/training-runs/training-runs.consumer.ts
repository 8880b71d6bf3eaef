import { Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { FeaturesMaterializedV1 } from '@keel/contracts';
import { Infrastructure } from '@keel/service-runtime';
import { TrainingRunsService } from './training-runs.service';

/**
 * Consumes `features.materialized` (group `training.features`) and delegates to the service. Training requests reach
 * training through features, which resolves each request's window and refits the features on it.
 */
@Injectable()
export class TrainingRunsConsumer implements OnApplicationBootstrap {
  constructor(
    private readonly infra: Infrastructure,
    private readonly service: TrainingRunsService,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const features = this.infra.createConsumer('features').on(FeaturesMaterializedV1, async (event) => {
      await this.service.onFeaturesMaterialized(event.data);
    });
    await features.start();
  }
}
