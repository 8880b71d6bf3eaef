import { PredictionLoggedV2 } from '@keel/contracts';
import { type Infrastructure, type MetricsService } from '@keel/service-runtime';
import pino from 'pino';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { type ServingConfig } from '../config';
import { InferenceMetrics } from './inference-metrics';
import { type PredictionBatch, PredictionLogService, type ServedRequest } from './prediction-log.service';

const SERVED_AT = new Date('2026-11-26T06:00:00.000Z');

const request = (
  n: number,
  predictionId = 'p-1',
  options: { version?: number; wide?: number } = {},
): ServedRequest => ({
  pipelineId: 'adult-income',
  modelVersion: options.version ?? 3,
  predictionId,
  requestId: `req-${predictionId}`,
  servedAt: SERVED_AT,
  inputNames: ['age', 'note'],
  inputs: {
    rows: n,
    columns: {
      age: Float64Array.from({ length: n }, (_, i) => (i === 2 ? NaN : i)),
      note: Array.from({ length: n }, (_, i) => (i === 1 ? null : 'x'.repeat(options.wide ?? 1))),
    },
  },
  outputs: {
    probability: Float64Array.from({ length: n }, (_, i) => i / n),
    label: Array.from({ length: n }, (_, i) => (i / n >= 0.5 ? '>50K' : '<=50K')),
  },
});

const baseConfig = {
  PREDICTION_LOG_RETRY_BUDGET_MS: 60_000,
  PREDICTION_LOG_BACKOFF_MS: 1,
  PREDICTION_LOG_MAX_BACKOFF_MS: 2,
  PREDICTION_LOG_MAX_PENDING_ROWS: 100_000,
  PREDICTION_LOG_BATCH_MAX_ROWS: 1_000,
  PREDICTION_LOG_BATCH_MAX_DELAY_MS: 60_000,
} as ServingConfig;

/** The service over a fake publisher that validates every event against the contract, as the real one does. */
function service(publish: (id: string, data: PredictionBatch) => Promise<void>, config: Partial<ServingConfig> = {}) {
  const metrics = new InferenceMetrics({ registry: new Registry() } as MetricsService);
  const infra = {
    publisher: {
      publish: (contract: typeof PredictionLoggedV2, data: PredictionBatch, { id }: { id: string }) => {
        expect(contract).toBe(PredictionLoggedV2);
        return publish(id, PredictionLoggedV2.schema.parse(data));
      },
    },
  } as unknown as Infrastructure;
  const logs = new PredictionLogService(infra, metrics, { ...baseConfig, ...config }, pino({ level: 'silent' }));
  return { metrics, logs };
}

const lost = async (metrics: InferenceMetrics) =>
  (await metrics.logsLost.get()).values.map((v) => [v.labels.reason, v.value]);

describe('PredictionLogService', () => {
  it('given requests of one version, when flushed, then one columnar event holds every row in order', async () => {
    const published: PredictionBatch[] = [];
    const { logs } = service(async (_id, data) => void published.push(data));
    logs.schedule(request(2, 'p-1'));
    logs.schedule(request(1, 'p-2'));
    expect(published).toEqual([]);
    await logs.beforeApplicationShutdown();
    expect(published).toHaveLength(1);
    const [batch] = published;
    expect(batch).toMatchObject({
      pipelineId: 'adult-income',
      modelName: 'adult-income',
      modelVersion: 3,
      rows: 3,
      predictionIds: ['p-1-0', 'p-1-1', 'p-2-0'],
      requestIds: ['req-p-1', 'req-p-1', 'req-p-2'],
      servedAt: [SERVED_AT.getTime(), SERVED_AT.getTime(), SERVED_AT.getTime()],
      inputs: { age: [0, 1, 0], note: ['x', null, 'x'] },
      outputs: { probability: [0, 0.5, 0], label: ['<=50K', '>50K', '<=50K'] },
    });
    expect(batch.batchId).toMatch(/^serving-[0-9a-f]{16}-1$/);
  });

  it('given a missing number (NaN in its column), when logged, then the event says null', async () => {
    const published: PredictionBatch[] = [];
    const { logs } = service(async (_id, data) => void published.push(data));
    logs.schedule(request(3));
    await logs.beforeApplicationShutdown();
    expect(published[0].inputs.age).toEqual([0, 1, null]);
  });

  it('given two versions, when flushed, then each version has its own batch and batch id', async () => {
    const published: PredictionBatch[] = [];
    const { logs } = service(async (_id, data) => void published.push(data));
    logs.schedule(request(1, 'p-1', { version: 1 }));
    logs.schedule(request(2, 'p-2', { version: 2 }));
    logs.schedule(request(1, 'p-3', { version: 1 }));
    await logs.beforeApplicationShutdown();
    const byVersion = Object.fromEntries(published.map((batch) => [batch.modelVersion, batch.predictionIds]));
    expect(byVersion).toEqual({ 1: ['p-1-0', 'p-3-0'], 2: ['p-2-0', 'p-2-1'] });
    expect(new Set(published.map((batch) => batch.batchId)).size).toBe(2);
  });

  it('given more rows than a batch holds, then full batches go out at once and the rest on flush', async () => {
    const published: PredictionBatch[] = [];
    const { logs } = service(async (_id, data) => void published.push(data), { PREDICTION_LOG_BATCH_MAX_ROWS: 4 });
    logs.schedule(request(3, 'p-1'));
    logs.schedule(request(6, 'p-2'));
    await new Promise((resolve) => setImmediate(resolve));
    expect(published.map((batch) => batch.rows)).toEqual([4, 4]);
    await logs.beforeApplicationShutdown();
    expect(published.map((batch) => batch.rows)).toEqual([4, 4, 1]);
    expect(published.flatMap((batch) => batch.predictionIds)).toEqual([
      ...['p-1-0', 'p-1-1', 'p-1-2'],
      ...['p-2-0', 'p-2-1', 'p-2-2', 'p-2-3', 'p-2-4', 'p-2-5'],
    ]);
  });

  it('given a batch that is not full, when its delay passes, then it is published without a flush', async () => {
    const published: PredictionBatch[] = [];
    const { logs } = service(async (_id, data) => void published.push(data), { PREDICTION_LOG_BATCH_MAX_DELAY_MS: 5 });
    logs.schedule(request(2));
    await expect.poll(() => published.length).toBe(1);
    expect(published[0].rows).toBe(2);
  });

  it('given wide rows, then batches close under the contract size', async () => {
    const published: PredictionBatch[] = [];
    const { logs } = service(async (_id, data) => void published.push(data));
    logs.schedule(request(900, 'p-1', { wide: 2_000 }));
    await logs.beforeApplicationShutdown();
    expect(published.length).toBeGreaterThan(1);
    for (const batch of published) expect(JSON.stringify(batch).length).toBeLessThan(PredictionLoggedV2.maxBytes);
    expect(published.reduce((sum, batch) => sum + batch.rows, 0)).toBe(900);
  });

  it('given a broker that refuses for a while, then the batch is retried under the same id until published, once', async () => {
    const published: string[] = [];
    const attempts: string[] = [];
    let failures = 5;
    const { metrics, logs } = service(async (id) => {
      attempts.push(id);
      if (failures-- > 0) throw new Error('KafkaJSConnectionError: Connection error: ECONNREFUSED');
      published.push(id);
    });
    logs.schedule(request(2));
    await logs.beforeApplicationShutdown();
    expect(published).toHaveLength(1);
    expect(new Set(attempts)).toEqual(new Set(published));
    expect(await lost(metrics)).toEqual([]);
  });

  it('given more rows waiting than the bound, then new rows are dropped and counted, and the waiting ones still go out', async () => {
    const published: PredictionBatch[] = [];
    let release!: () => void;
    const broker = new Promise<void>((resolve) => (release = resolve));
    const { metrics, logs } = service(
      async (_id, data) => {
        await broker;
        published.push(data);
      },
      { PREDICTION_LOG_MAX_PENDING_ROWS: 3, PREDICTION_LOG_BATCH_MAX_ROWS: 2 },
    );
    logs.schedule(request(2, 'p-1'));
    logs.schedule(request(2, 'p-2'));
    logs.schedule(request(1, 'p-3'));
    release();
    await logs.beforeApplicationShutdown();
    expect(published.flatMap((batch) => batch.predictionIds)).toEqual(['p-1-0', 'p-1-1', 'p-3-0']);
    expect(await lost(metrics)).toEqual([['backlog-full', 2]]);
    expect((await metrics.logsPendingRows.get()).values[0].value).toBe(0);
  });
});
