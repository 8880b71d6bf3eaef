import { Module } from '@nestjs/common';
import { AlertMetrics } from './alert.metrics';
import { AlertWebhooks } from './alert-webhooks';
import { AlertsConsumer } from './alerts.consumer';
import { AlertsService } from './alerts.service';

/** Alerts: raised on the alerts topic from drift, performance, concept drift, rejected data and gates; webhooks. */
@Module({
  providers: [AlertMetrics, AlertsService, AlertWebhooks, AlertsConsumer],
  exports: [AlertsService],
})
export class AlertsModule {}
