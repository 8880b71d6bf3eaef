import { Injectable } from '@nestjs/common';
import { MetricsService } from '@keel/service-runtime';
import { Counter, Gauge } from 'prom-client';

/** Performance on joined labels, on the service's /metrics. */
@Injectable()
export class PerformanceMetrics {
  /** Each metric of the latest closed label window, per model version. */
  readonly windowMetric: Gauge<'pipeline' | 'model_version' | 'metric'>;
  /** CBPE's estimate for the predictions waiting for labels when the latest window closed. */
  readonly estimatedMetric: Gauge<'pipeline' | 'model_version' | 'metric'>;
  readonly windowsClosed: Counter<'pipeline'>;
  readonly conceptDrift: Counter<'pipeline' | 'model_version' | 'detector'>;

  constructor(metrics: MetricsService) {
    const registers = [metrics.registry];
    this.windowMetric = new Gauge({
      name: 'keel_monitoring_performance',
      help: 'A metric of the latest closed label window (realized on joined labels)',
      labelNames: ['pipeline', 'model_version', 'metric'],
      registers,
    });
    this.estimatedMetric = new Gauge({
      name: 'keel_monitoring_performance_estimated',
      help: 'CBPE estimate of a metric for predictions still waiting for labels',
      labelNames: ['pipeline', 'model_version', 'metric'],
      registers,
    });
    this.windowsClosed = new Counter({
      name: 'keel_monitoring_label_windows_closed_total',
      help: 'Label windows closed',
      labelNames: ['pipeline'],
      registers,
    });
    this.conceptDrift = new Counter({
      name: 'keel_monitoring_concept_drift_detections_total',
      help: 'Concept-drift detections on the error stream of joined labels',
      labelNames: ['pipeline', 'model_version', 'detector'],
      registers,
    });
  }
}
