/* eslint-disable no-console, no-restricted-imports -- a command-line bench against the local stack: it prints its figures */
/**
 * Throughput of the monitoring predictions path against the local stack: 100 predictions.logged events of 5 rows
 * for one fresh pipeline (windows of 200 rows, so two windows are evaluated on the way), timed from the first
 * publish until all 500 rows are counted and both windows are evaluated.
 * It runs on its own database (BENCH_MONGO_URL, default keel_bench), seeded to ~3,000 prediction_logs documents, so
 * monitoring services running on the stack (which consume the same topic) cannot touch its state.
 * Run: npx node -r @swc-node/register apps/monitoring/bench/predictions-throughput.ts
 */
import { type EventData, type PipelineId, PredictionLoggedV1 } from '@keel/contracts';
import { serializePackage } from '@keel/model-package';
import { BUCKETS } from '@keel/storage';
import { fixtureRecords, pipelineSpecFixture, uniqueName, uniquePipelineId } from '@keel/testing';
import { DriftService } from '../src/drift/drift.service';
import { WindowCounterRepository } from '../src/drift/window-counter.repository';
import { PredictionLogRepository } from '../src/predictions/prediction-log.repository';
import { PredictionsService } from '../src/predictions/predictions.service';
import { adultPackage, servedInputs, startMonitoringUnderTest } from '../src/test-support/monitoring-under-test';

const EVENTS = 100;
const EXISTING_LOGS = 3_000;
const ROWS_PER_EVENT = 5;

async function main(): Promise<void> {
  const id = uniquePipelineId('bench-mon');
  const spec = pipelineSpecFixture('adult-income', { id, monitoring: { windowRows: 200, psiThreshold: 0.2 } });
  const rows = fixtureRecords('adult', { count: 1_000, numeric: spec });

  let packageRef = { packageUri: '', packageSha256: '' };
  const service = await startMonitoringUnderTest({
    database: 'keel_bench',
    locator: { locate: async () => packageRef },
    env: {
      LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'silent',
      ...(process.env.BENCH_MONGO_URL ? { MONGO_URL: process.env.BENCH_MONGO_URL } : {}),
    },
  });
  const { infra } = service;
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
  timed('insertNew', service.app.get(PredictionLogRepository), 'insertNew');
  timed('allocate', service.app.get(WindowCounterRepository), 'allocate');
  // Private steps of DriftService.record, timed on the instance.
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
    const pkg = adultPackage(spec, rows.slice(0, 500), { modelName: 'bench-model', codeVersion: 'bench' });
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
          inputs: servedInputs(row),
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
      const counter = await counters.findOne({ _id: `${id}|1` as never });
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
    await service.close();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
