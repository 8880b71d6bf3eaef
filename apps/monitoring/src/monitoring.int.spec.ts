import {
  DriftDetectedV1,
  type EventData,
  LabelReceivedV1,
  PredictionLoggedV1,
  type PipelineId,
  type PipelineSpecV1,
  type Scalar,
  TrainingRequestedV1,
} from '@keel/contracts';
import { NonRetryableError } from '@keel/messaging';
import { serializePackage } from '@keel/model-package';
import { type Infrastructure } from '@keel/service-runtime';
import { BUCKETS } from '@keel/storage';
import {
  eventually,
  fixtureRecords,
  pipelineSpecFixture,
  type RecordedEvent,
  type ServiceUnderTest,
  TopicRecorder,
  uniquePipelineId,
} from '@keel/testing';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adultPackage, servedInputs, startMonitoringUnderTest } from './test-support/monitoring-under-test';

const MODEL_NAME = 'adult-income-model';

type Row = Record<string, Scalar>;

describe('monitoring against the real stack', () => {
  let service: ServiceUnderTest;
  let infra: Infrastructure;
  let recorder: TopicRecorder;
  let spec: PipelineSpecV1;
  let packageRef = { packageUri: '', packageSha256: '' };
  const eventsOn = (topic: string) => recorder.on(topic) as RecordedEvent<Record<string, unknown>>[];
  const adultRows = (n: number, from: number): Row[] => fixtureRecords('adult', { count: n, from, numeric: spec });

  beforeAll(async () => {
    const id = uniquePipelineId('mon-adult');
    spec = pipelineSpecFixture('adult-income', { id, monitoring: { windowRows: 200, psiThreshold: 0.2 } });

    const mongoUrl = process.env.MONITORING_INT_MONGO_URL;
    service = await startMonitoringUnderTest({
      // Its own database: a monitoring service running on the stack consumes the same topic (in its own group) and,
      // not knowing the test's model in its registry, would close the test's `_id`-keyed windows as failed.
      database: 'keel_monitoring_int',
      env: mongoUrl ? { MONGO_URL: mongoUrl } : {},
      locator: {
        locate: async (ref) => {
          if (ref.pipelineId !== id || !packageRef.packageUri)
            throw new NonRetryableError(`no test package for ${ref.pipelineId}`);
          return packageRef;
        },
      },
    });
    infra = service.infra;
    await infra.pipelines.apply(spec);
    const pkg = adultPackage(spec, adultRows(500, 0), { modelName: MODEL_NAME, codeVersion: 'int-test' });
    const stored = await infra.objects.putContentAddressed(BUCKETS.models, `${id}/packages`, serializePackage(pkg), {
      extension: '.json',
    });
    packageRef = { packageUri: stored.uri, packageSha256: stored.sha256 };

    recorder = await TopicRecorder.start({
      topics: [DriftDetectedV1.topic, TrainingRequestedV1.topic],
      keep: (event) => (event.data as { pipelineId?: unknown } | undefined)?.pipelineId === id,
    });
  });

  afterAll(async () => {
    await recorder?.stop();
    await service?.close();
  });

  /** Publishes rows as predictions.logged events of 50 predictions each; prediction ids are `<pipeline>-<prefix>-<row index>`. */
  async function logPredictions(rows: Row[], prefix: string): Promise<void> {
    for (let start = 0; start < rows.length; start += 50) {
      const batch = rows.slice(start, start + 50);
      const data: EventData<typeof PredictionLoggedV1> = {
        pipelineId: spec.id as PipelineId,
        requestId: `${prefix}-req-${start}`,
        modelName: MODEL_NAME,
        modelVersion: 1,
        servedAt: new Date().toISOString(),
        predictions: batch.map((row, i) => ({
          predictionId: `${spec.id}-${prefix}-${start + i}`,
          inputs: servedInputs(row),
          outputs: { probability: 0.2, label: '<=50K' },
        })),
      };
      await infra.publisher.publish(PredictionLoggedV1, data);
    }
  }

  const driftReports = async () =>
    (await request(service.app.getHttpServer()).get(`/api/v1/pipelines/${spec.id}/drift`).expect(200)).body as {
      windows: {
        windowIndex: number;
        drifted: boolean;
        rowCount: number;
        features: { feature: string; psi: number; drifted: boolean }[];
      }[];
    };
  const predictionCount = async () =>
    (
      (await request(service.app.getHttpServer()).get(`/api/v1/pipelines/${spec.id}/predictions/count`).expect(200))
        .body as { count: number }
    ).count;

  it('keeps an in-distribution window quiet, then reports drift on age and asks for retraining once', async () => {
    // given 200 in-distribution Adult rows (not the training rows) served by model version 1
    await logPredictions(adultRows(200, 1_000), 'in');

    // then the window is evaluated without drift
    const first = await eventually('the first window report', async () => {
      const { windows } = await driftReports();
      return windows.length === 1 ? windows[0] : undefined;
    });
    expect(first).toMatchObject({ windowIndex: 0, rowCount: 200, drifted: false });
    expect(first.features).toHaveLength(spec.features.length);
    for (const feature of first.features) expect(feature.psi).toBeLessThan(0.2);
    expect(await predictionCount()).toBe(200);

    // when a redelivered batch arrives under a new event id, it is not logged or counted again
    await logPredictions(adultRows(50, 1_000), 'in');
    // and 200 rows with age + 30 follow
    const shifted = adultRows(200, 2_000).map((row) => ({ ...row, age: Number(row.age) + 30 }));
    await logPredictions(shifted, 'old');

    // then drift.detected names age, with PSI over the threshold
    const drift = await eventually('a drift.detected event', async () => eventsOn(DriftDetectedV1.topic)[0]);
    expect(drift.id).toBe(`drift-${spec.id}-1-1`);
    const drifted = drift.data.drifted as { feature: string; statistic: string; value: number; threshold: number }[];
    expect(drifted.map((d) => d.feature)).toContain('age');
    expect(drifted.find((d) => d.feature === 'age')).toMatchObject({ statistic: 'psi', threshold: 0.2 });
    expect(drifted.find((d) => d.feature === 'age')!.value).toBeGreaterThanOrEqual(0.2);
    expect(drift.data).toMatchObject({ modelName: MODEL_NAME, modelVersion: 1, rowCount: 200 });

    // and a training request with the version's dedupe key
    const training = await eventually('a training.requested event', async () => eventsOn(TrainingRequestedV1.topic)[0]);
    expect(training.data).toMatchObject({
      reason: 'drift',
      requestedBy: 'monitoring',
      dedupeKey: `${spec.id}:drift:v1`,
    });

    // and the report API lists both windows, newest first; only the first window stayed quiet
    const { windows } = await driftReports();
    expect(windows.map((w) => [w.windowIndex, w.drifted])).toEqual([
      [1, true],
      [0, false],
    ]);
    expect(await predictionCount()).toBe(400);
    expect(eventsOn(DriftDetectedV1.topic)).toHaveLength(1);

    // and /metrics exposes the PSI of the latest window
    const metrics = (await request(service.app.getHttpServer()).get('/metrics').expect(200)).text;
    expect(metrics).toContain(`keel_monitoring_feature_psi{pipeline="${spec.id}",feature="age"`);
    expect(metrics).toContain(`keel_monitoring_predictions_logged_total{pipeline="${spec.id}"`);
  });

  it('stores labels by prediction id, once per prediction whatever the redeliveries', async () => {
    const predictionId = `${spec.id}-labelled-0`;
    const data: EventData<typeof LabelReceivedV1> = {
      pipelineId: spec.id as PipelineId,
      labels: [{ predictionId, label: '>50K', observedAt: '2026-11-26T00:00:00Z' }],
    };
    await infra.publisher.publish(LabelReceivedV1, data);
    await infra.publisher.publish(LabelReceivedV1, data);
    const labels = infra.mongo.collection('label_logs');
    const stored = await eventually('the label', async () => (await labels.findOne({ predictionId })) ?? undefined);
    expect(stored).toMatchObject({ predictionId, pipelineId: spec.id, label: '>50K' });
    expect(await labels.countDocuments({ predictionId })).toBe(1);
  });

  it('answers 400 naming the id for a malformed pipeline id', async () => {
    const response = await request(service.app.getHttpServer()).get('/api/v1/pipelines/Not_A_Slug/drift').expect(400);
    expect(JSON.stringify(response.body)).toContain('id:');
  });
});
