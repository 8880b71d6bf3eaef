import { type EventData, type PipelineSpecV1, PredictionLoggedV2, type Scalar } from '@keel/contracts';
import { createProducer, EventPublisher } from '@keel/messaging';
import { serializePackage } from '@keel/model-package';
import { BUCKETS, ObjectStore } from '@keel/storage';
import {
  eventually,
  fixtureRecords,
  mongoUrlForDatabase,
  pipelineSpecFixture,
  stackEndpoints,
  stackKafka,
  startGroupAtTopicEnd,
  uniqueName,
  uniquePipelineId,
} from '@keel/testing';
import { type Admin, type Producer } from 'kafkajs';
import mongoose, { type Connection } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PipelineStore } from '@keel/pipelines';
import { type DriftWindowDocument } from './drift/drift-window.repository';
import { MonitoringProcess } from './test-support/monitoring-child';
import { adultBatch, adultPackage, MONITORING_CONSUMERS } from './test-support/monitoring-under-test';

const MODEL_NAME = 'adult-income-model';
const WINDOW_ROWS = 200;
const BATCHES = 60;
const ROWS_PER_BATCH = 100;
const TOTAL_ROWS = BATCHES * ROWS_PER_BATCH;
const WINDOWS = TOTAL_ROWS / WINDOW_ROWS;

type Row = Record<string, Scalar>;

describe('monitoring killed with -9 in the middle of the prediction log', () => {
  let spec: PipelineSpecV1;
  let admin: Admin;
  let producer: Producer;
  let publisher: EventPublisher;
  const connections: Connection[] = [];
  const processes: MonitoringProcess[] = [];
  const env: Record<string, string> = {};
  const interrupted = new MonitoringProcess(uniqueName('mon-killed'), 'keel_monitoring_restart_int_killed', env);
  const reference = new MonitoringProcess(uniqueName('mon-whole'), 'keel_monitoring_restart_int_whole', env);
  let batches: EventData<typeof PredictionLoggedV2>[] = [];

  beforeAll(async () => {
    spec = pipelineSpecFixture('adult-income', {
      id: uniquePipelineId('mon-restart'),
      monitoring: { windowRows: WINDOW_ROWS, psiThreshold: 0.2 },
    });
    const rows = fixtureRecords('adult', { count: 500 + TOTAL_ROWS, numeric: spec }) as Row[];
    const objects = new ObjectStore(stackEndpoints.s3);
    await objects.ensureBuckets(Object.values(BUCKETS));
    const pkg = adultPackage(spec, rows.slice(0, 500), { modelName: MODEL_NAME, codeVersion: 'int-test' });
    const stored = await objects.putContentAddressed(BUCKETS.models, `${spec.id}/packages`, serializePackage(pkg), {
      extension: '.json',
    });
    Object.assign(env, {
      MONITORING_TEST_PIPELINE_ID: spec.id,
      MONITORING_TEST_PACKAGE_URI: stored.uri,
      MONITORING_TEST_PACKAGE_SHA256: stored.sha256,
      // A checkpoint every 300 ms, so the kill lands between checkpoints with applied but uncheckpointed rows.
      PREDICTION_CHECKPOINT_INTERVAL_MS: '300',
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    });
    for (const run of [interrupted, reference]) {
      const connection = await mongoose.createConnection(mongoUrlForDatabase(run.database)).asPromise();
      connections.push(connection);
      const pipelines = new PipelineStore(connection);
      await pipelines.init();
      await pipelines.apply(spec);
    }
    admin = stackKafka(uniqueName('mon-restart-admin')).admin();
    await admin.connect();
    // Both runs' groups start where the test's stream starts.
    for (const run of [interrupted, reference]) {
      for (const [suffix, contracts] of Object.entries(MONITORING_CONSUMERS)) {
        await startGroupAtTopicEnd(
          admin,
          `${run.name}.${suffix}`,
          contracts.map((contract) => contract.topic),
        );
      }
    }
    producer = createProducer(stackKafka(uniqueName('mon-restart-producer')));
    await producer.connect();
    publisher = new EventPublisher(producer, '/keel/monitoring-restart-test');
    // In-distribution rows, then rows whose age is shifted by 30 years: the later windows drift.
    batches = Array.from({ length: BATCHES }, (_, b) => {
      const slice = rows.slice(500 + b * ROWS_PER_BATCH, 500 + (b + 1) * ROWS_PER_BATCH);
      const served = b < BATCHES / 2 ? slice : slice.map((row) => ({ ...row, age: Number(row.age) + 30 }));
      return adultBatch(served, {
        pipelineId: spec.id,
        modelName: MODEL_NAME,
        modelVersion: 1,
        batchId: `${spec.id}-batch-${b}`,
        servedAt: 1_800_000_000_000 + b * 1_000,
      });
    });
  });

  afterAll(async () => {
    await Promise.allSettled(processes.map((run) => run.stop()));
    await producer?.disconnect();
    await admin?.disconnect();
    await Promise.allSettled(connections.map((connection) => connection.close()));
  });

  const publish = async (list: readonly EventData<typeof PredictionLoggedV2>[]) => {
    for (const batch of list) await publisher.publish(PredictionLoggedV2, batch);
  };

  const windowsOf = async (connection: Connection) =>
    (await connection
      .collection<DriftWindowDocument>('drift_windows')
      .find({ pipelineId: spec.id }, { projection: { _id: 0, evaluatedAt: 0 } })
      .sort({ modelVersion: 1, windowIndex: 1 })
      .toArray()) as Omit<DriftWindowDocument, '_id' | 'evaluatedAt'>[];

  const allCounted = (run: MonitoringProcess) =>
    eventually(
      `${run.name} to count all ${TOTAL_ROWS} rows`,
      async () => ((await run.count(spec.id)) === TOTAL_ROWS ? true : undefined),
      { timeoutMs: 120_000 },
    );

  it('ends with exactly the windows and drift results of an uninterrupted run', async () => {
    // given the first half of the stream, applied and checkpointed by the run that will be killed
    await publish(batches.slice(0, BATCHES / 2));
    processes.push(interrupted);
    await interrupted.start();
    await eventually(
      'the first half checkpointed',
      async () => ((await interrupted.count(spec.id)) === TOTAL_ROWS / 2 ? true : undefined),
      { timeoutMs: 120_000 },
    );

    // when the second half (with a batch published twice) arrives and the run is killed with -9 while applying it
    await publish([...batches.slice(BATCHES / 2, BATCHES / 2 + 10), batches[BATCHES / 2 + 3]]);
    await eventually(
      'rows of the second half applied',
      async () => ((await interrupted.count(spec.id)) > TOTAL_ROWS / 2 ? true : undefined),
      { timeoutMs: 60_000, intervalMs: 20 },
    );
    const publishingRest = publish(batches.slice(BATCHES / 2 + 10));
    await interrupted.kill();
    const countAtKill = await interrupted.count(spec.id).catch(() => undefined);
    expect(countAtKill).toBeUndefined();
    await publishingRest;

    // and it is started again with the same consumer groups and database
    await interrupted.start();
    await allCounted(interrupted);
    // (it resumed from a checkpoint: it applied only what came after it, not the whole log again)
    const replayed = await interrupted.rowsApplied();
    expect(replayed).toBeGreaterThan(0);
    expect(replayed).toBeLessThan(TOTAL_ROWS / 2);

    // then an uninterrupted run over the same log ends with the same windows, drift results and counts
    processes.push(reference);
    await reference.start();
    await allCounted(reference);
    const [killedConnection, wholeConnection] = connections;
    const expected = await eventually('the uninterrupted run’s windows', async () => {
      const windows = await windowsOf(wholeConnection);
      return windows.length === WINDOWS ? windows : undefined;
    });
    const actual = await eventually('the restarted run’s windows', async () => {
      const windows = await windowsOf(killedConnection);
      return windows.length === WINDOWS ? windows : undefined;
    });
    expect(actual).toEqual(expected);
    expect(expected.map((window) => window.rowCount)).toEqual(Array(WINDOWS).fill(WINDOW_ROWS));
    expect(expected.every((window) => window.status === 'evaluated')).toBe(true);
    expect(expected.slice(0, WINDOWS / 2).some((window) => !window.drifted)).toBe(true);
    expect(expected.slice(WINDOWS / 2).every((window) => window.drifted)).toBe(true);
  });
});
