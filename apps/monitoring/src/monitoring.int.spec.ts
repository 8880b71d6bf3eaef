import {
  DriftDetectedV1,
  type EventData,
  LabelReceivedV1,
  PredictionLoggedV1,
  PredictionLoggedV2,
  type PipelineId,
  type PipelineSpecV1,
  type Scalar,
  TrainingRequestedV2,
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
import { PredictionArchive } from './archive/prediction-archive';
import { DriftWindowRepository, windowId } from './drift/drift-window.repository';
import { LabelLogRepository } from './labels/label-log.repository';
import { RetentionService } from './retention/retention.service';
import { PredictionLogRepository } from './predictions/prediction-log.repository';
import { adultBatch, adultPackage, servedInputs, startMonitoringUnderTest } from './test-support/monitoring-under-test';

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

  /** An instance of monitoring on the test's database, with the test's package in place of the registry's. */
  const startReplica = () => {
    const mongoUrl = process.env.MONITORING_INT_MONGO_URL;
    return startMonitoringUnderTest({
      // Its own database: a monitoring service running on the stack consumes the same topic (in its own group) and,
      // not knowing the test's model in its registry, would close the test's `_id`-keyed windows as failed.
      database: 'keel_monitoring_int',
      env: mongoUrl ? { MONGO_URL: mongoUrl } : {},
      locator: {
        locate: async (ref) => {
          if (ref.pipelineId !== spec.id || !packageRef.packageUri)
            throw new NonRetryableError(`no test package for ${ref.pipelineId}`);
          return packageRef;
        },
      },
    });
  };

  beforeAll(async () => {
    const id = uniquePipelineId('mon-adult');
    spec = pipelineSpecFixture('adult-income', { id, monitoring: { windowRows: 200, psiThreshold: 0.2 } });

    service = await startReplica();
    infra = service.infra;
    await infra.pipelines.apply(spec);
    const pkg = adultPackage(spec, adultRows(500, 0), { modelName: MODEL_NAME, codeVersion: 'int-test' });
    const stored = await infra.objects.putContentAddressed(BUCKETS.models, `${id}/packages`, serializePackage(pkg), {
      extension: '.json',
    });
    packageRef = { packageUri: stored.uri, packageSha256: stored.sha256 };

    recorder = await TopicRecorder.start({
      topics: [DriftDetectedV1.topic, TrainingRequestedV2.topic],
      keep: (event) => (event.data as { pipelineId?: unknown } | undefined)?.pipelineId === id,
    });
  });

  afterAll(async () => {
    await recorder?.stop();
    await service?.close();
  });

  /**
   * Publishes rows as v2 prediction-log batches of 50 rows each, batch ids `<pipeline>-<prefix>-<start>`; prediction
   * ids are `<pipeline>-<prefix>-<start>-<i>`.
   */
  async function logPredictions(rows: Row[], prefix: string, modelVersion = 1): Promise<void> {
    for (let start = 0; start < rows.length; start += 50) {
      const batch = adultBatch(rows.slice(start, start + 50), {
        pipelineId: spec.id,
        modelName: MODEL_NAME,
        modelVersion,
        batchId: `${spec.id}-${prefix}-${start}`,
      });
      await infra.publisher.publish(PredictionLoggedV2, batch);
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
    // (the count is as of the latest checkpoint, at most one checkpoint interval behind the windows)
    await eventually('200 predictions counted', async () => ((await predictionCount()) === 200 ? true : undefined));

    // when a redelivered batch (same batch id) arrives under a new event id, it is not logged or counted again
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

    // and the retrain policy (none in the spec: one request per drifting version) asks for a retrain
    const training = await eventually('a training.requested event', async () => eventsOn(TrainingRequestedV2.topic)[0]);
    expect(training.data).toMatchObject({
      reason: 'feature-drift',
      requestedBy: 'monitoring/retrain-policy',
      requestId: `${spec.id}:drift:v1`,
    });

    // and the report API lists both windows, newest first; only the first window stayed quiet
    const { windows } = await driftReports();
    expect(windows.map((w) => [w.windowIndex, w.drifted])).toEqual([
      [1, true],
      [0, false],
    ]);
    await eventually('400 predictions counted', async () => ((await predictionCount()) === 400 ? true : undefined));
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

  it('drains v1 prediction logs through the stream, a redelivered v1 event counted once', async () => {
    // given 8 v1 events of 25 rows for model version 2, each delivered twice under its event id
    const events = Array.from({ length: 8 }, (_, e) => ({
      id: `${spec.id}-v1-${e}`,
      data: {
        pipelineId: spec.id as PipelineId,
        requestId: `v1-${e}`,
        modelName: MODEL_NAME,
        modelVersion: 2,
        servedAt: new Date().toISOString(),
        predictions: adultRows(25, 4_000 + 25 * e).map((row, i) => ({
          predictionId: `${spec.id}-v1-${e}-${i}`,
          inputs: servedInputs(row),
          outputs: { probability: 0.2, label: '<=50K' },
        })),
      } satisfies EventData<typeof PredictionLoggedV1>,
    }));
    for (const { id, data } of [...events, ...events]) await infra.publisher.publish(PredictionLoggedV1, data, { id });

    // then the 200 rows fill window 0 of version 2 exactly once, and nothing spills into window 1
    const windows = service.app.get(DriftWindowRepository);
    const window = await eventually(
      'window 0 of version 2',
      async () => (await windows.get(windowId(spec.id, 2, 0))) ?? undefined,
    );
    expect(window).toMatchObject({ rowCount: 200, status: 'evaluated', modelVersion: 2 });
    expect(window.outputs?.find((output) => output.name === 'probability')).toMatchObject({ count: 200, mean: 0.2 });
    await eventually('all 600 rows counted', async () => ((await predictionCount()) === 600 ? true : undefined));
    expect(await windows.get(windowId(spec.id, 2, 1))).toBeNull();
  });

  it('archives served predictions by pipeline: two pipelines sharing a prediction id keep one each, found by id', async () => {
    const other = pipelineSpecFixture('adult-income', { id: uniquePipelineId('mon-other') });
    await infra.pipelines.apply(other);
    const predictionId = `shared-${Date.now()}`;
    const [row] = adultRows(1, 3_000);
    for (const [i, pipelineId] of [spec.id, other.id].entries()) {
      const batch = adultBatch([{ ...row, age: 30 + i }], {
        pipelineId,
        modelName: MODEL_NAME,
        modelVersion: 1,
        batchId: `${pipelineId}-shared`,
      });
      await infra.publisher.publish(PredictionLoggedV2, { ...batch, predictionIds: [predictionId] });
      await infra.publisher.publish(LabelReceivedV1, {
        pipelineId: pipelineId as PipelineId,
        labels: [{ predictionId, label: pipelineId, observedAt: '2026-11-26T00:00:00Z' }],
      });
    }
    const archive = service.app.get(PredictionArchive);
    const labels = infra.mongo.collection('label_logs');
    const found = await eventually('both archived predictions and both labels', async () => {
      const rows = await Promise.all([spec.id, other.id].map((id) => archive.find(id, [predictionId])));
      return rows.every((r) => r.length === 1) && (await labels.countDocuments({ predictionId })) === 2
        ? rows.flat()
        : undefined;
    });
    expect(found.map((p) => [p.pipelineId, p.predictionId, p.modelVersion, p.inputs.age])).toEqual([
      [spec.id, predictionId, 1, 30],
      [other.id, predictionId, 1, 31],
    ]);
    expect(found[0].outputs).toMatchObject({ probability: 0, label: '>50K' });
    expect((await labels.find({ predictionId }).toArray()).map((label) => label.label).sort()).toEqual(
      [spec.id, other.id].sort(),
    );
  });

  it('moves logs and labels stored under the bare prediction id to the pipeline-scoped key at start-up', async () => {
    const logs = infra.mongo.collection('prediction_logs');
    const labels = infra.mongo.collection('label_logs');
    const predictionId = `legacy-${Date.now()}`;
    const now = new Date();
    await logs.insertOne({
      _id: predictionId as never,
      pipelineId: spec.id,
      modelName: MODEL_NAME,
      modelVersion: 1,
      requestId: 'legacy',
      predictionId,
      eventId: 'legacy-event',
      servedAt: now,
      inputsJson: '{}',
      outputsJson: '{}',
      loggedAt: now,
    });
    await labels.insertOne({
      _id: predictionId as never,
      predictionId,
      pipelineId: spec.id,
      label: 'x',
      observedAt: now,
    });
    await service.app.get(PredictionLogRepository).migrateLegacyKeys();
    await service.app.get(LabelLogRepository).migrateLegacyKeys();
    expect(await logs.findOne({ _id: predictionId as never })).toBeNull();
    expect(await logs.findOne({ _id: `${spec.id}|${predictionId}` as never })).toMatchObject({
      eventId: 'legacy-event',
    });
    expect(await labels.findOne({ _id: predictionId as never })).toBeNull();
    expect(await labels.findOne({ _id: `${spec.id}|${predictionId}` as never })).toMatchObject({ label: 'x' });
  });

  it('sweeps prediction logs, labels and closed drift windows older than their retention, keeping newer ones', async () => {
    const logs = infra.mongo.collection('prediction_logs');
    const labels = infra.mongo.collection('label_logs');
    const longAgo = new Date('2020-01-01T00:00:00Z');
    const old = `${spec.id}|expired-${Date.now()}`;
    await logs.insertOne({
      _id: old as never,
      pipelineId: spec.id,
      modelName: MODEL_NAME,
      modelVersion: 9,
      requestId: 'expired',
      predictionId: old,
      eventId: 'expired-event',
      servedAt: longAgo,
      inputsJson: '{}',
      outputsJson: '{}',
      loggedAt: longAgo,
    });
    await labels.insertOne({
      _id: old as never,
      predictionId: old,
      pipelineId: spec.id,
      label: 'x',
      observedAt: longAgo,
    });
    const windows = service.app.get(DriftWindowRepository);
    const closed = windowId(spec.id, 9, 0);
    await windows.saveClosed({
      _id: closed,
      pipelineId: spec.id,
      modelVersion: 9,
      windowIndex: 0,
      status: 'failed',
      rowCount: 0,
      windowEnd: longAgo,
    });
    const keptLogs = await logs.countDocuments({ pipelineId: spec.id, loggedAt: { $gt: longAgo } });

    const outcome = await service.app.get(RetentionService).sweep();

    expect(outcome.predictionLogs).toBeGreaterThanOrEqual(1);
    expect(await logs.findOne({ _id: old as never })).toBeNull();
    expect(await labels.findOne({ _id: old as never })).toBeNull();
    expect(await windows.get(closed)).toBeNull();
    expect(await logs.countDocuments({ pipelineId: spec.id, loggedAt: { $gt: longAgo } })).toBe(keptLogs);
    expect(await windows.get(windowId(spec.id, 1, 0))).toMatchObject({ status: 'evaluated' });
  });

  it('answers 400 naming the id for a malformed pipeline id', async () => {
    const response = await request(service.app.getHttpServer()).get('/api/v1/pipelines/Not_A_Slug/drift').expect(400);
    expect(JSON.stringify(response.body)).toContain('id:');
  });
});
