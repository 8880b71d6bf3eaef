import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  DriftDetectedV1,
  type EventData,
  LabelReceivedV1,
  PredictionLoggedV1,
  type PipelineId,
  type PipelineSpecV1,
  TrainingRequestedV1,
} from '@keel/contracts';
import { createKafka, NonRetryableError } from '@keel/messaging';
import { fitTransform, TransformRunner, trainLogisticRegression, createModelDocument } from '@keel/ml-models';
import {
  buildReference,
  type ModelPackage,
  outputsForTask,
  serializePackage,
  signatureFromSpec,
} from '@keel/model-package';
import { parsePipelineSpec } from '@keel/pipelines';
import { Infrastructure, type RunningService, startService } from '@keel/service-runtime';
import { BUCKETS } from '@keel/storage';
import { eventually, stackEndpoints, uniqueName } from '@keel/testing';
import { type Consumer } from 'kafkajs';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { monitoringEnvSchema } from './config';
import { packageLocatorModule } from './drift/package-locator';
import { MonitoringModule } from './monitoring.module';

const root = join(__dirname, '../../..');
const adultYaml = readFileSync(join(root, 'fixtures/pipelines/adult-income.yaml'), 'utf8');
const adultLines = readFileSync(join(root, 'fixtures/datasets/adult/adult.csv'), 'utf8').trimEnd().split('\n');
const header = adultLines[0].split(',');
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
const MODEL_NAME = 'adult-income-model';

type Row = Record<string, string | number | null>;

/** Adult rows `from` … `from + n − 1` (0-based after the header), numeric columns as numbers, '' as null. */
function adultRows(spec: PipelineSpecV1, n: number, from: number): Row[] {
  const numeric = new Set(spec.features.filter((f) => f.type === 'numeric').map((f) => f.name));
  return adultLines.slice(1 + from, 1 + from + n).map((line) => {
    const fields = line.split(',');
    return Object.fromEntries(
      header.map((name, i) => [name, fields[i] === '' ? null : numeric.has(name) ? Number(fields[i]) : fields[i]]),
    );
  });
}

/** A real package: logistic regression on the rows, with the drift reference of the same rows. */
function buildPackage(spec: PipelineSpecV1, rows: Row[]): ModelPackage {
  const inputs = signatureFromSpec(spec);
  const columns = Object.fromEntries(inputs.map((input) => [input.name, rows.map((row) => row[input.name])]));
  const fitted = fitTransform(
    columns,
    spec.features.map((f) =>
      f.type === 'numeric'
        ? { name: f.name, kind: 'numeric' as const, impute: f.impute, standardize: f.standardize }
        : { name: f.name, kind: 'categorical' as const, encoding: 'onehot' as const, unknown: f.unknown },
    ),
  );
  const x = new TransformRunner(fitted).table(columns);
  const y = rows.map((row) => (row.income === spec.target.positive ? 1 : 0));
  const model = createModelDocument({
    model: trainLogisticRegression(x, y),
    preprocessing: fitted,
    classes: ['<=50K', '>50K'],
  });
  return {
    format: 'keel.package',
    version: 1,
    pipelineId: spec.id,
    modelName: MODEL_NAME,
    task: spec.task,
    target: { column: 'income', positive: '>50K', negative: '<=50K' },
    signature: { inputs, outputs: outputsForTask(spec.task) },
    model,
    metrics: {},
    lineage: {
      datasetVersionId: 'ds-0000000000000000',
      datasetSha256: '0'.repeat(64),
      featureSetId: 'fs-0000000000000000',
      featureSetSha256: '0'.repeat(64),
      transformSha256: '0'.repeat(64),
      codeVersion: 'int-test',
      seed: 42,
      algorithm: 'logistic-regression',
      params: {},
      trainRows: rows.length,
      holdoutRows: 0,
    },
    reference: buildReference(inputs, columns),
  };
}

describe('monitoring against the real stack', () => {
  let service: RunningService;
  let infra: Infrastructure;
  let reader: Consumer;
  let spec: PipelineSpecV1;
  let packageRef = { packageUri: '', packageSha256: '' };
  const seen: { topic: string; id: string; data: Record<string, unknown> }[] = [];
  const eventsOn = (topic: string) => seen.filter((event) => event.topic === topic);

  beforeAll(async () => {
    const id = uniqueName('mon-adult');
    spec = parsePipelineSpec(adultYaml.replace('id: adult-income', `id: ${id}`));
    spec = { ...spec, monitoring: { windowRows: 200, psiThreshold: 0.2 } };

    // A unique name is a unique consumer group, so a running monitoring service does not take our events; its
    // offsets start at the topics' ends, so the run does not replay every earlier run's (and other tests') events.
    const name = uniqueName('monitoring');
    const kafka = createKafka({ clientId: 'monitoring-int', brokers: stackEndpoints.kafkaBrokers, logger: quiet });
    const admin = kafka.admin();
    await admin.connect();
    for (const [suffix, topic] of [
      ['predictions', PredictionLoggedV1.topic],
      ['labels', LabelReceivedV1.topic],
    ]) {
      const ends = await admin.fetchTopicOffsets(topic);
      await admin.setOffsets({
        groupId: `${name}.${suffix}`,
        topic,
        partitions: ends.map(({ partition, high }) => ({ partition, offset: high })),
      });
    }
    await admin.disconnect();

    service = await startService({
      name,
      envSchema: monitoringEnvSchema,
      features: [
        MonitoringModule,
        packageLocatorModule({
          locate: async (ref) => {
            if (ref.pipelineId !== id || !packageRef.packageUri)
              throw new NonRetryableError(`no test package for ${ref.pipelineId}`);
            return packageRef;
          },
        }),
      ],
      telemetry: { enabled: false, forceFlush: async () => undefined, shutdown: async () => undefined },
      env: {
        ...process.env,
        // Its own database: a monitoring service running on the stack consumes the same topic (in its own group) and,
        // not knowing the test's model in its registry, would close the test's `_id`-keyed windows as failed.
        MONGO_URL: process.env.MONITORING_INT_MONGO_URL ?? 'mongodb://127.0.0.1:27017/keel_monitoring_int',
        HTTP_PORT: '0',
        GRPC_PORT: '0',
        LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
      },
    });
    infra = service.app.get(Infrastructure);
    await infra.pipelines.apply(spec);
    const pkg = buildPackage(spec, adultRows(spec, 500, 0));
    const stored = await infra.objects.putContentAddressed(BUCKETS.models, `${id}/packages`, serializePackage(pkg), {
      extension: '.json',
    });
    packageRef = { packageUri: stored.uri, packageSha256: stored.sha256 };

    reader = kafka.consumer({
      groupId: uniqueName('monitoring-reader'),
    });
    await reader.connect();
    await reader.subscribe({ topics: [DriftDetectedV1.topic, TrainingRequestedV1.topic], fromBeginning: true });
    await reader.run({
      eachMessage: async ({ topic, message }) => {
        const data = JSON.parse(message.value?.toString() ?? '{}') as Record<string, unknown>;
        if (data.pipelineId === id) seen.push({ topic, id: String(message.headers?.ce_id ?? ''), data });
      },
    });
  });

  afterAll(async () => {
    await reader?.disconnect();
    await service?.stop();
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
        predictions: batch.map((row, i) => {
          const inputs = Object.fromEntries(
            Object.entries(row).filter(([name]) => name !== 'income' && name !== 'split'),
          );
          return {
            predictionId: `${spec.id}-${prefix}-${start + i}`,
            inputs,
            outputs: { probability: 0.2, label: '<=50K' },
          };
        }),
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
    await logPredictions(adultRows(spec, 200, 1_000), 'in');

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
    await logPredictions(adultRows(spec, 50, 1_000), 'in');
    // and 200 rows with age + 30 follow
    const shifted = adultRows(spec, 200, 2_000).map((row) => ({ ...row, age: Number(row.age) + 30 }));
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
