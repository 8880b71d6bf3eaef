import { Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import {
  AlertRaisedV1,
  DatasetRejectedV1,
  DriftDetectedV1,
  isFeatureTable,
  LabelWindowClosedV1,
  ModelRegisteredV1,
  ModelRolloutTransitionedV1,
  TrainingFailedV1,
} from '@keel/contracts';
import { Infrastructure } from '@keel/service-runtime';
import {
  datasetRejectedAlert,
  driftAlert,
  gateRejectedAlert,
  labelWindowAlerts,
  rolloutAlert,
  trainingFailedAlert,
} from './alert-rules';
import { AlertWebhooks } from './alert-webhooks';
import { AlertsService } from './alerts.service';

/**
 * Turns platform events into alerts (group `monitoring.alerts`) and delivers raised alerts to the webhooks (group
 * `monitoring.alert-webhooks`; its processed-event store skips a repeated alert key, since the CloudEvent id is the
 * key). Two groups, so a receiver that is down delays deliveries, never the raising of alerts.
 */
@Injectable()
export class AlertsConsumer implements OnApplicationBootstrap {
  constructor(
    private readonly infra: Infrastructure,
    private readonly alerts: AlertsService,
    private readonly webhooks: AlertWebhooks,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const sources = this.infra
      .createConsumer('alerts')
      .on(DriftDetectedV1, async ({ data }) => {
        await this.alerts.raise(driftAlert(data));
      })
      .on(DatasetRejectedV1, async ({ data }) => {
        await this.alerts.raise(datasetRejectedAlert(data));
      })
      .on(TrainingFailedV1, async ({ data }) => {
        await this.alerts.raise(trainingFailedAlert(data));
      })
      .on(ModelRegisteredV1, async ({ data }) => {
        const alert = gateRejectedAlert(data);
        if (alert) await this.alerts.raise(alert);
      })
      .on(ModelRolloutTransitionedV1, async ({ data }) => {
        const alert = rolloutAlert(data);
        if (alert) await this.alerts.raise(alert);
      })
      .on(LabelWindowClosedV1, async ({ data }) => {
        const spec = await this.alerts.specOf(data.pipelineId);
        // A feature table serves no model, so it has no labelled windows: nothing to judge.
        if (!spec || isFeatureTable(spec)) return;
        for (const alert of labelWindowAlerts(data, spec)) await this.alerts.raise(alert, spec);
      });
    const deliveries = this.infra.createConsumer('alert-webhooks').on(AlertRaisedV1, async ({ data }) => {
      await this.webhooks.deliver(data);
    });
    await Promise.all([sources.start(), deliveries.start()]);
  }
}
