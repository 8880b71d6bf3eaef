import { Injectable } from '@nestjs/common';
import { MetricsService } from '@keel/service-runtime';
import { Counter } from 'prom-client';

/** Alert metrics on the service's /metrics (the Prometheus rules in deploy/prometheus alert on these). */
@Injectable()
export class AlertMetrics {
  readonly raised: Counter<'pipeline' | 'kind' | 'severity'>;
  /** Webhook deliveries by outcome: delivered, rejected (a 4xx the receiver will not change its mind on), failed. */
  readonly webhookDeliveries: Counter<'outcome'>;

  constructor(metrics: MetricsService) {
    this.raised = new Counter({
      name: 'keel_monitoring_alerts_raised_total',
      help: 'Alerts raised on the alerts topic',
      labelNames: ['pipeline', 'kind', 'severity'],
      registers: [metrics.registry],
    });
    this.webhookDeliveries = new Counter({
      name: 'keel_monitoring_alert_webhook_deliveries_total',
      help: 'Alert webhook deliveries by outcome (delivered, rejected, failed attempts)',
      labelNames: ['outcome'],
      registers: [metrics.registry],
    });
  }
}
