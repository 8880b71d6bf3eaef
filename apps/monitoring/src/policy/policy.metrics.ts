import { Injectable } from '@nestjs/common';
import { MetricsService } from '@keel/service-runtime';
import { Counter } from 'prom-client';

/** Retrain-policy metrics on the service's /metrics. */
@Injectable()
export class PolicyMetrics {
  /** Decisions on signals that met a trigger: fired or suppressed (cooldown, daily cap), by training reason. */
  readonly decisions: Counter<'pipeline' | 'outcome' | 'reason'>;

  constructor(metrics: MetricsService) {
    this.decisions = new Counter({
      name: 'keel_monitoring_retrain_decisions_total',
      help: 'Retrain-policy decisions, fired or suppressed',
      labelNames: ['pipeline', 'outcome', 'reason'],
      registers: [metrics.registry],
    });
  }
}
