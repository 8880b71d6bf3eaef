import { type Infrastructure, type MetricsService } from '@keel/service-runtime';
import pino from 'pino';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { type ServingConfig } from '../config';
import { InferenceMetrics } from './inference-metrics';
import { LOG_CHUNK_ROWS, PredictionLogService, predictionLogEvents } from './prediction-log.service';

const batch = (n: number, wide = 0) => ({
  pipelineId: 'adult-income',
  predictionId: 'p-1',
  requestId: 'req-1',
  modelVersion: 3,
  servedAt: new Date('2026-11-26T06:00:00.000Z'),
  rows: Array.from({ length: n }, (_, i) => ({ age: i, note: 'x'.repeat(wide) })),
  outputs: {
    probability: Array.from({ length: n }, (_, i) => i / n),
    label: Array.from({ length: n }, (_, i) => (i / n >= 0.5 ? '>50K' : '<=50K')),
  },
});

describe('predictionLogEvents', () => {
  it('given two rows, when chunked, then one event with row-indexed prediction ids and every output', () => {
    const events = predictionLogEvents(batch(2));
    expect(events).toEqual([
      {
        id: 'predictions-adult-income-v3-p-1-0',
        data: {
          pipelineId: 'adult-income',
          requestId: 'req-1',
          modelName: 'adult-income',
          modelVersion: 3,
          servedAt: '2026-11-26T06:00:00.000Z',
          predictions: [
            { predictionId: 'p-1-0', inputs: { age: 0, note: '' }, outputs: { probability: 0, label: '<=50K' } },
            { predictionId: 'p-1-1', inputs: { age: 1, note: '' }, outputs: { probability: 0.5, label: '>50K' } },
          ],
        },
      },
    ]);
  });

  it('given 2,500 rows, when chunked, then events of at most 1,000 rows with ids ending in their chunk', () => {
    const events = predictionLogEvents(batch(2_500));
    expect(events.map((e) => e.id)).toEqual([
      'predictions-adult-income-v3-p-1-0',
      'predictions-adult-income-v3-p-1-1',
      'predictions-adult-income-v3-p-1-2',
    ]);
    expect(events.map((e) => e.data.predictions.length)).toEqual([LOG_CHUNK_ROWS, LOG_CHUNK_ROWS, 500]);
    expect(events[2].data.predictions[0].predictionId).toBe('p-1-2000');
  });

  it('given two requests with the same client request id, when chunked, then their events have distinct ids', () => {
    const [first] = predictionLogEvents(batch(1));
    const [other] = predictionLogEvents({ ...batch(1), predictionId: 'p-2' });
    const [again] = predictionLogEvents(batch(1));
    expect(other.id).not.toBe(first.id);
    expect(other.data.requestId).toBe(first.data.requestId);
    expect(again.id).toBe(first.id);
  });

  it('given wide rows, when chunked, then events also stay under the contract size', () => {
    const events = predictionLogEvents(batch(600, 2_000));
    expect(events.length).toBeGreaterThan(1);
    for (const event of events) expect(JSON.stringify(event.data).length).toBeLessThan(1024 * 1024);
    expect(events.reduce((sum, e) => sum + e.data.predictions.length, 0)).toBe(600);
  });
});

describe('PredictionLogService', () => {
  const config = {
    PREDICTION_LOG_RETRY_BUDGET_MS: 60_000,
    PREDICTION_LOG_BACKOFF_MS: 1,
    PREDICTION_LOG_MAX_BACKOFF_MS: 2,
    PREDICTION_LOG_MAX_PENDING_ROWS: 3,
  } as ServingConfig;

  function service(publish: (id: string) => Promise<void>) {
    const metrics = new InferenceMetrics({ registry: new Registry() } as MetricsService);
    const infra = {
      publisher: { publish: (_contract: unknown, _data: unknown, { id }: { id: string }) => publish(id) },
    } as unknown as Infrastructure;
    return { metrics, logs: new PredictionLogService(infra, metrics, config, pino({ level: 'silent' })) };
  }
  const lost = async (metrics: InferenceMetrics) =>
    (await metrics.logsLost.get()).values.map((v) => [v.labels.reason, v.value]);

  it('given a broker that refuses for a while, when a batch is logged, then it is retried until published, once', async () => {
    const published: string[] = [];
    let failures = 5;
    const { metrics, logs } = service(async (id) => {
      if (failures-- > 0) throw new Error('KafkaJSConnectionError: Connection error: ECONNREFUSED');
      published.push(id);
    });
    logs.schedule(batch(2));
    await logs.beforeApplicationShutdown();
    expect(published).toEqual(['predictions-adult-income-v3-p-1-0']);
    expect(await lost(metrics)).toEqual([]);
  });

  it('given more rows waiting than the bound, then new logs are dropped and counted, and the waiting ones still go out', async () => {
    const published: string[] = [];
    let release!: () => void;
    const broker = new Promise<void>((resolve) => (release = resolve));
    const { metrics, logs } = service(async (id) => {
      await broker;
      published.push(id);
    });
    logs.schedule(batch(2));
    logs.schedule({ ...batch(2), predictionId: 'p-2' });
    release();
    await logs.beforeApplicationShutdown();
    expect(published).toEqual(['predictions-adult-income-v3-p-1-0']);
    expect(await lost(metrics)).toEqual([['backlog-full', 1]]);
  });
});
