import { Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import {
  DatasetValidatedV1,
  TrainingRequestedV1,
  TrainingRequestedV2,
  upcastTrainingRequestedV1,
} from '@keel/contracts';
import { Infrastructure } from '@keel/service-runtime';
import { FeatureSetsService } from './feature-sets.service';

/**
 * Consumes `dataset.validated` (group `features.datasets`) and training requests, v2 and v1 read as v2 (group
 * `features.training-requests`), and delegates to the service. Two groups, so a burst of requests never delays a
 * fresh dataset version.
 */
@Injectable()
export class FeatureSetsConsumer implements OnApplicationBootstrap {
  constructor(
    private readonly infra: Infrastructure,
    private readonly service: FeatureSetsService,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const datasets = this.infra.createConsumer('datasets').on(DatasetValidatedV1, async (event) => {
      await this.service.onDatasetValidated(event.data);
    });
    const requests = this.infra
      .createConsumer('training-requests')
      .on(TrainingRequestedV2, async (event) => {
        await this.service.onTrainingRequested(event.data);
      })
      .on(TrainingRequestedV1, async (event) => {
        await this.service.onTrainingRequested(upcastTrainingRequestedV1(event.data));
      });
    await Promise.all([datasets.start(), requests.start()]);
  }
}
