/* eslint-disable no-console, no-restricted-imports -- a command-line bench against the local stack: it prints its figures */
/**
 * Throughput of the monitoring predictions path against the local stack: 100 predictions.logged events of 5 rows
 * for one fresh pipeline (windows of 200 rows, so two windows are evaluated on the way), timed from the first
 * publish until all 500 rows are counted and both windows are evaluated.
 * It runs on its own database (BENCH_MONGO_URL, default keel_bench), seeded to ~3,000 prediction_logs documents, so
 * monitoring services running on the stack (which consume the same topic) cannot touch its state.
 * Run: npx node -r @swc-node/register apps/monitoring/bench/predictions-throughput.ts
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type EventData, LabelReceivedV1, type PipelineId, PredictionLoggedV1 } from '@keel/contracts';
import { createKafka } from '@keel/messaging';
import { createModelDocument, fitTransform, TransformRunner, trainLogisticRegression } from '@keel/ml-models';
import { buildReference, outputsForTask, serializePackage, signatureFromSpec } from '@keel/model-package';
import { parsePipelineSpec } from '@keel/pipelines';
import { Infrastructure, startService } from '@keel/service-runtime';
import { BUCKETS } from '@keel/storage';
import { stackEndpoints, uniqueName } from '@keel/testing';
import { monitoringEnvSchema } from '../src/config';
import { packageLocatorModule } from '../src/drift/package-locator';
import { MonitoringModule } from '../src/monitoring.module';
import { PredictionsService } from '../src/predictions/predictions.service';
import { PredictionLogRepository } from '../src/predictions/prediction-log.repository';
import { DriftService } from '../src/drift/drift.service';

const EVENTS = 100;
const EXISTING_LOGS = 3_000;
const MONGO_URL = process.env.BENCH_MONGO_URL ?? 'mongodb://127.0.0.1:27017/keel_bench';
const ROWS_PER_EVENT = 5;
const root = join(__dirname, '../../..');
const lines = readFileSync(join(root, 'fixtures/datasets/adult/adult.csv'), 'utf8').trimEnd().split('\n');
const header = lines[0].split(',');
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

async function main(): Promise<void> {
  const id = uniqueName('bench-mon');
  const spec = {
    ...parsePipelineSpec(
      readFileSync(join(root, 'fixtures/pipelines/adult-income.yaml'), 'utf8').replace('id: adult-income', `id: ${id}`),
    ),
    monitoring: { windowRows: 200, psiThreshold: 0.2 },
  };
  const numeric = new Set(spec.features.filter((f) => f.type === 'numeric').map((f) => f.name));
  const rows = lines.slice(1, 1_001).map((line) => {
    const fields = line.split(',');
    return Object.fromEntries(
      header.map((name, i) => [name, fields[i] === '' ? null : numeric.has(name) ? Number(fields[i]) : fields[i]]),
    ) as Record<string, string | number | null>;
  });

  const name = uniqueName('monitoring-bench');
  const kafka = createKafka({ clientId: 'monitoring-bench', brokers: stackEndpoints.kafkaBrokers, logger: quiet });
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

  let packageRef = { packageUri: '', packageSha256: '' };
  const service = await startService({
    name,
    envSchema: monitoringEnvSchema,
    features: [MonitoringModule, packageLocatorModule({ locate: async () => packageRef })],
    telemetry: { enabled: false, forceFlush: async () => undefined, shutdown: async () => undefined },
    env: {
      ...process.env,
      MONGO_URL,
      HTTP_PORT: '0',
      GRPC_PORT: '0',
      LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'silent',
    },
  });
  const infra = service.app.get(Infrastructure);
  // Time inside the monitoring handler alone, apart from the messaging lib's own work per event (dedupe, commit).
  const timings = new Map<string, number>();
  const timed = (name: string, target: object, method: string): void => {
    const record = target as Record<string, (...args: unknown[]) => Promise<unknown>>;
    if (typeof record[method] !== 'function') return;
    const original = record[method].bind(target);
    record[method] = async (...args: unknown[]) => {
      const t = performance.now();
      try {
        return await original(...args);
      } finally {
        timings.set(name, (timings.get(name) ?? 0) + performance.now() - t);
      }
    };
  };
  timed('pipelines.get', infra.pipelines, 'get');
  const logs = service.app.get(PredictionLogRepository);
  timed('insertNew', logs, 'insertNew');
  timed('allocate', logs, 'allocate');
  const drift = service.app.get(DriftService);
  timed('merge', drift, 'merge');
  timed('evaluateReady', drift, 'evaluateReady');
  const predictions = service.app.get(PredictionsService);
  const log = predictions.log.bind(predictions);
  let handlerMs = 0;
  predictions.log = async (...args) => {
    const t = performance.now();
    try {
      return await log(...args);
    } finally {
      handlerMs += performance.now() - t;
    }
  };
  try {
    await infra.pipelines.apply(spec);
    const training = rows.slice(0, 500);
    const inputs = signatureFromSpec(spec);
    const columns = Object.fromEntries(inputs.map((input) => [input.name, training.map((row) => row[input.name])]));
    const fitted = fitTransform(
      columns,
      spec.features.map((f) =>
        f.type === 'numeric'
          ? { name: f.name, kind: 'numeric' as const, impute: f.impute, standardize: f.standardize }
          : { name: f.name, kind: 'categorical' as const, encoding: 'onehot' as const, unknown: f.unknown },
      ),
    );
    const model = createModelDocument({
      model: trainLogisticRegression(
        new TransformRunner(fitted).table(columns),
        training.map((row) => (row.income === spec.target.positive ? 1 : 0)),
      ),
      preprocessing: fitted,
      classes: ['<=50K', '>50K'],
    });
    const pkg = {
      format: 'keel.package' as const,
      version: 1 as const,
      pipelineId: id,
      modelName: 'bench-model',
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
        codeVersion: 'bench',
        seed: 42,
        algorithm: 'logistic-regression',
        params: {},
        trainRows: training.length,
        holdoutRows: 0,
      },
      reference: buildReference(inputs, columns),
    };
    const stored = await infra.objects.putContentAddressed(BUCKETS.models, `${id}/packages`, serializePackage(pkg), {
      extension: '.json',
    });
    packageRef = { packageUri: stored.uri, packageSha256: stored.sha256 };
    const logCollection = infra.mongo.collection('prediction_logs');
    const existing = await logCollection.estimatedDocumentCount();
    if (existing < EXISTING_LOGS) {
      const filler = uniqueName('bench-filler');
      await logCollection.insertMany(
        Array.from({ length: EXISTING_LOGS - existing }, (_, i) => ({
          _id: `${filler}-${i}`,
          pipelineId: filler,
          modelName: 'filler',
          modelVersion: 1,
          requestId: `${filler}-${i}`,
          predictionId: `${filler}-${i}`,
          eventId: filler,
          servedAt: new Date(),
          inputsJson: JSON.stringify(rows[i % rows.length]),
          outputsJson: '{"probability":0.2,"label":"<=50K"}',
          windowIndex: 0,
          loggedAt: new Date(),
        })) as never[],
        { ordered: false },
      );
    }
    console.log(
      `prediction_logs holds ~${await infra.mongo.collection('prediction_logs').estimatedDocumentCount()} documents`,
    );

    const served = rows.slice(500, 500 + EVENTS * ROWS_PER_EVENT);
    const started = Date.now();
    for (let e = 0; e < EVENTS; e++) {
      const batch = served.slice(e * ROWS_PER_EVENT, (e + 1) * ROWS_PER_EVENT);
      const data: EventData<typeof PredictionLoggedV1> = {
        pipelineId: id as PipelineId,
        requestId: `${id}-req-${e}`,
        modelName: 'bench-model',
        modelVersion: 1,
        servedAt: new Date().toISOString(),
        predictions: batch.map((row, i) => ({
          predictionId: `${id}-${e}-${i}`,
          inputs: Object.fromEntries(Object.entries(row).filter(([key]) => key !== 'income' && key !== 'split')),
          outputs: { probability: 0.2, label: '<=50K' },
        })),
      };
      await infra.publisher.publish(PredictionLoggedV1, data);
    }
    const published = Date.now();
    // Polls the counter by _id and the (small) windows collection, so the probe does not slow down what it measures.
    const counters = infra.mongo.collection('monitoring_counters');
    const windows = infra.mongo.collection('drift_windows');
    let lastCount: number | undefined;
    for (;;) {
      // By _id (this shape), or by fields (the first shape; the bench database's counters collection is tiny).
      const counter =
        (await counters.findOne({ _id: `${id}|1` as never })) ?? (await counters.findOne({ pipelineId: id }));
      const evaluated = await windows.countDocuments({ pipelineId: id, status: 'evaluated' });
      if (counter?.count === EVENTS * ROWS_PER_EVENT && evaluated === 2) break;
      if (counter?.count !== lastCount) {
        lastCount = counter?.count;
        console.log(`${Date.now() - started} ms: ${lastCount} rows counted, ${evaluated} windows evaluated`);
      }
      if (Date.now() - started > 180_000) throw new Error(`timed out at ${counter?.count} rows, ${evaluated} windows`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const done = Date.now();
    console.log(
      `${EVENTS} events × ${ROWS_PER_EVENT} rows: ${done - started} ms (${((done - started) / EVENTS).toFixed(1)} ms/event; publishing took ${published - started} ms; ${handlerMs.toFixed(0)} ms in the predictions handler)`,
    );
    console.log([...timings].map(([name, ms]) => `${name} ${(ms / EVENTS).toFixed(1)} ms/event`).join(', '));
  } finally {
    await service.stop();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
