import { Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { FeaturesMaterializedV1, TrainingRequestedV1 } from '@keel/contracts';
import { Infrastructure } from '@keel/service-runtime';
import { TrainingRunsService } from './training-runs.service';

/**
 * Consumes `features.materialized` (group `training.features`) and `training.requested` (group `training.requests`)
 * and delegates to the service. Two groups, so a burst of retraining requests never delays a fresh feature set.
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
    const requests = this.infra.createConsumer('requests').on(TrainingRequestedV1, async (event) => {
      await this.service.onTrainingRequested(event.data, event.id);
    });
    await Promise.all([features.start(), requests.start()]);
  }
}
