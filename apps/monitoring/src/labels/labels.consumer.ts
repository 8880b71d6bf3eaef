import { Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { LabelReceivedV1 } from '@keel/contracts';
import { Infrastructure } from '@keel/service-runtime';
import { KeelAttr } from '@keel/telemetry';
import { trace } from '@opentelemetry/api';
import { LabelsService } from './labels.service';

/** Consumes mlops.labels.received.v1 (group `monitoring.labels`) and delegates to the service. */
@Injectable()
export class LabelsConsumer implements OnApplicationBootstrap {
  constructor(
    private readonly infra: Infrastructure,
    private readonly labels: LabelsService,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.infra
      .createConsumer('labels')
      .on(LabelReceivedV1, async ({ data }) => {
        trace
          .getActiveSpan()
          ?.setAttributes({ [KeelAttr.PIPELINE_ID]: data.pipelineId, [KeelAttr.BATCH_SIZE]: data.labels.length });
        await this.labels.store(data);
      })
      .start();
  }
}
