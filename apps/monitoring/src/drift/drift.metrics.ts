import { Injectable } from '@nestjs/common';
import { MetricsService } from '@keel/service-runtime';
import { Counter, Gauge } from 'prom-client';

/** Drift metrics on the service's /metrics. */
@Injectable()
export class DriftMetrics {
  /** PSI of each feature in the pipeline's latest evaluated window. */
  readonly psi: Gauge<'pipeline' | 'feature'>;
  readonly windowsEvaluated: Counter<'pipeline' | 'drifted'>;
  readonly driftEvents: Counter<'pipeline'>;

  constructor(metrics: MetricsService) {
    this.psi = new Gauge({
      name: 'keel_monitoring_feature_psi',
      help: 'PSI of a feature in the latest evaluated drift window',
      labelNames: ['pipeline', 'feature'],
      registers: [metrics.registry],
    });
    this.windowsEvaluated = new Counter({
      name: 'keel_monitoring_drift_windows_evaluated_total',
      help: 'Drift windows evaluated',
      labelNames: ['pipeline', 'drifted'],
      registers: [metrics.registry],
    });
    this.driftEvents = new Counter({
      name: 'keel_monitoring_drift_events_total',
      help: 'drift.detected events published',
      labelNames: ['pipeline'],
      registers: [metrics.registry],
    });
  }
}
