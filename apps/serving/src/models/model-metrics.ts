import { Injectable } from '@nestjs/common';
import { MetricsService } from '@keel/service-runtime';
import { Counter, Gauge } from 'prom-client';

/** Prometheus metrics of the model lifecycle. */
@Injectable()
export class ModelMetrics {
  readonly loads: Counter<'model' | 'outcome'>;
  readonly loadFailures: Counter<'model'>;
  readonly servedVersion: Gauge<'model' | 'alias'>;

  constructor(metrics: MetricsService) {
    const registers = [metrics.registry];
    this.loads = new Counter({
      name: 'keel_serving_model_loads_total',
      help: 'Model versions loaded (outcome success) or given up on after every retry (outcome failure)',
      labelNames: ['model', 'outcome'],
      registers,
    });
    this.loadFailures = new Counter({
      name: 'keel_serving_model_load_failures_total',
      help: 'Failed attempts to load a model version (bad bytes, integrity, parse or smoke-prediction errors)',
      labelNames: ['model'],
      registers,
    });
    this.servedVersion = new Gauge({
      name: 'keel_serving_model_version',
      help: 'Version each model serves by each alias',
      labelNames: ['model', 'alias'],
      registers,
    });
  }
}
