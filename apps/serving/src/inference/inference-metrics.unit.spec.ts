import { type MetricsService } from '@keel/service-runtime';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { InferenceMetrics } from './inference-metrics';

describe('InferenceMetrics', () => {
  it('adds the calls and rows counted since the last scrape to their counters when scraped', async () => {
    const registry = new Registry();
    const metrics = new InferenceMetrics({ registry } as MetricsService);
    metrics.countCall('adult', 'OK');
    metrics.countCall('adult', 'OK');
    metrics.countCall('adult', 'INVALID_ARGUMENT');
    metrics.countRows('adult', 64);
    metrics.countRows('adult', 1);
    const first = await registry.metrics();
    expect(first).toContain('keel_serving_infer_requests_total{model="adult",status="OK"} 2');
    expect(first).toContain('keel_serving_infer_requests_total{model="adult",status="INVALID_ARGUMENT"} 1');
    expect(first).toContain('keel_serving_rows_predicted_total{model="adult"} 65');
    // Counted once: a second scrape adds only what came since.
    metrics.countCall('adult', 'OK');
    const second = await registry.metrics();
    expect(second).toContain('keel_serving_infer_requests_total{model="adult",status="OK"} 3');
    expect(second).toContain('keel_serving_rows_predicted_total{model="adult"} 65');
  });
});
