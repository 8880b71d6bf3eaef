import { Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { DatasetValidatedV1, DriftDetectedV1, LabelWindowClosedV1 } from '@keel/contracts';
import { Infrastructure } from '@keel/service-runtime';
import { RetrainPolicyService } from './retrain-policy.service';
import { driftSignal, labelWindowSignal, newDataSignal } from './retrain-signals';

/**
 * Feeds the retrain policy (group `monitoring.retrain-policy`): drift windows, new validated data and the labelled
 * stream's signals, all keyed by pipeline.
 */
@Injectable()
export class RetrainPolicyConsumer implements OnApplicationBootstrap {
  constructor(
    private readonly infra: Infrastructure,
    private readonly policy: RetrainPolicyService,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.infra
      .createConsumer('retrain-policy')
      .on(DriftDetectedV1, async (event) => {
        await this.policy.onSignal(driftSignal(event.data));
      })
      .on(DatasetValidatedV1, async (event) => {
        await this.policy.onSignal(newDataSignal(event.data));
      })
      .on(LabelWindowClosedV1, async (event) => {
        await this.policy.onSignal(labelWindowSignal(event.data));
      })
      .start();
  }
}
