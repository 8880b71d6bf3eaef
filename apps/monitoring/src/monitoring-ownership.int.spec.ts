import { type EventData, type PipelineSpecV1, PredictionLoggedV2, type Scalar } from '@keel/contracts';
import { createProducer, EventPublisher } from '@keel/messaging';
import { serializePackage } from '@keel/model-package';
import { PipelineStore } from '@keel/pipelines';
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
import { type Admin, Partitioners, type Producer } from 'kafkajs';
import mongoose, { type Connection } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DriftWindowDocument } from './drift/drift-window.repository';
import { MonitoringProcess } from './test-support/monitoring-child';
import { adultBatch, adultPackage, MONITORING_CONSUMERS } from './test-support/monitoring-under-test';

const MODEL_NAME = 'adult-income-model';
const WINDOW_ROWS = 200;
const BATCHES_PER_PIPELINE = 20;
const ROWS_PER_BATCH = 100;
const ROWS_PER_PIPELINE = BATCHES_PER_PIPELINE * ROWS_PER_BATCH;
const WINDOWS = (3 * ROWS_PER_PIPELINE) / WINDOW_ROWS;

type Row = Record<string, Scalar>;
type Batch = EventData<typeof PredictionLoggedV2>;

/** The partition of mlops.predictions.logged.v2 (three partitions) the producer puts a key on. */
function partitionOf(key: string): number {
  const partitioner = Partitioners.DefaultPartitioner();
  const partitionMetadata = [0, 1, 2].map((partitionId) => ({
    partitionId,
    leader: 0,
    replicas: [0],
    isr: [0],
    partitionErrorCode: 0,
  }));
  return partitioner({ topic: PredictionLoggedV2.topic, partitionMetadata, message: { key, value: null } });
}

/** One pipeline id per partition of the log, so two replicas of one group each own some of the pipelines. */
function pipelineIdsOnEveryPartition(): string[] {
  const byPartition = new Map<number, string>();
  while (byPartition.size < 3) {
    const id = uniquePipelineId('mon-own');
    byPartition.set(partitionOf(id), byPartition.get(partitionOf(id)) ?? id);
  }
  return [...byPartition.values()];
}

describe('prediction-log partitions follow the consumer group', () => {
  const specs: PipelineSpecV1[] = [];
  let admin: Admin;
  let producer: Producer;
  let publisher: EventPublisher;
  const connections: Connection[] = [];
  const processes: MonitoringProcess[] = [];
  const env: Record<string, string> = {};
  const groupName = uniqueName('mon-pair');
  const sharedDatabase = 'keel_monitoring_ownership_int_pair';
  const survivor = new MonitoringProcess(groupName, sharedDatabase, env);
  const killed = new MonitoringProcess(groupName, sharedDatabase, env);
  const reference = new MonitoringProcess(uniqueName('mon-alone'), 'keel_monitoring_ownership_int_alone', env);
  /** Batches per pipeline, in publication order; the second half of each pipeline's rows drifts (age + 30). */
  const batches = new Map<string, Batch[]>();

  beforeAll(async () => {
    const objects = new ObjectStore(stackEndpoints.s3);
    await objects.ensureBuckets(Object.values(BUCKETS));
    const packages: Record<string, { packageUri: string; packageSha256: string }> = {};
    for (const id of pipelineIdsOnEveryPartition()) {
      const spec = pipelineSpecFixture('adult-income', {
        id,
        monitoring: { windowRows: WINDOW_ROWS, psiThreshold: 0.2 },
      });
      specs.push(spec);
      const rows = fixtureRecords('adult', { count: 500 + ROWS_PER_PIPELINE, numeric: spec }) as Row[];
      const pkg = adultPackage(spec, rows.slice(0, 500), { modelName: MODEL_NAME, codeVersion: 'int-test' });
      const stored = await objects.putContentAddressed(BUCKETS.models, `${id}/packages`, serializePackage(pkg), {
        extension: '.json',
      });
      packages[id] = { packageUri: stored.uri, packageSha256: stored.sha256 };
      batches.set(
        id,
        Array.from({ length: BATCHES_PER_PIPELINE }, (_, b) => {
          const slice = rows.slice(500 + b * ROWS_PER_BATCH, 500 + (b + 1) * ROWS_PER_BATCH);
          const served =
            b < BATCHES_PER_PIPELINE / 2 ? slice : slice.map((row) => ({ ...row, age: Number(row.age) + 30 }));
          return adultBatch(served, {
            pipelineId: id,
            modelName: MODEL_NAME,
            modelVersion: 1,
            batchId: `${id}-batch-${b}`,
            servedAt: 1_800_000_000_000 + b * 1_000,
          });
        }),
      );
    }
    Object.assign(env, {
      MONITORING_TEST_PACKAGES: JSON.stringify(packages),
      // A checkpoint every 300 ms, so the kill lands between checkpoints with applied but uncheckpointed rows.
      PREDICTION_CHECKPOINT_INTERVAL_MS: '300',
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    });
    for (const database of [sharedDatabase, reference.database]) {
      const connection = await mongoose.createConnection(mongoUrlForDatabase(database)).asPromise();
      connections.push(connection);
      const pipelines = new PipelineStore(connection);
      await pipelines.init();
      for (const spec of specs) await pipelines.apply(spec);
    }
    admin = stackKafka(uniqueName('mon-own-admin')).admin();
    await admin.connect();
    for (const name of [groupName, reference.name]) {
      for (const [suffix, contracts] of Object.entries(MONITORING_CONSUMERS)) {
        await startGroupAtTopicEnd(
          admin,
          `${name}.${suffix}`,
          contracts.map((contract) => contract.topic),
        );
      }
    }
    producer = createProducer(stackKafka(uniqueName('mon-own-producer')));
    await producer.connect();
    publisher = new EventPublisher(producer, '/keel/monitoring-ownership-test');
  });

  afterAll(async () => {
    await Promise.allSettled(processes.map((run) => run.stop()));
    await producer?.disconnect();
    await admin?.disconnect();
    await Promise.allSettled(connections.map((connection) => connection.close()));
  });

  /** Batches [from, to) of every pipeline, interleaved. */
  const publish = async (from: number, to: number) => {
    for (let b = from; b < to; b++) {
      for (const spec of specs) await publisher.publish(PredictionLoggedV2, batches.get(spec.id)![b]);
    }
  };

  const counted = async (run: MonitoringProcess) => {
    let rows = 0;
    for (const spec of specs) rows += await run.count(spec.id);
    return rows;
  };

  const windowsOf = async (connection: Connection) =>
    (await connection
      .collection<DriftWindowDocument>('drift_windows')
      .find({ pipelineId: { $in: specs.map((spec) => spec.id) } }, { projection: { _id: 0, evaluatedAt: 0 } })
      .sort({ pipelineId: 1, modelVersion: 1, windowIndex: 1 })
      .toArray()) as Omit<DriftWindowDocument, '_id' | 'evaluatedAt'>[];

  it('gives a killed replica’s partitions to the other, which resumes them from their checkpoints', async () => {
    // given two replicas of one group sharing the log's three partitions, each applying its pipelines' first half
    processes.push(survivor, killed);
    await Promise.all([survivor.start(), killed.start()]);
    await eventually(
      'both replicas own partitions',
      async () => {
        const owned = [await survivor.ownedPartitions(), await killed.ownedPartitions()];
        return owned[0] > 0 && owned[1] > 0 && owned[0] + owned[1] === 3 ? true : undefined;
      },
      { timeoutMs: 60_000 },
    );
    await publish(0, BATCHES_PER_PIPELINE / 2);
    await eventually(
      'the first half checkpointed',
      async () => ((await counted(survivor)) === (3 * ROWS_PER_PIPELINE) / 2 ? true : undefined),
      { timeoutMs: 120_000 },
    );
    expect(await survivor.rowsApplied()).toBeGreaterThan(0);
    expect(await killed.rowsApplied()).toBeGreaterThan(0);

    // when one replica is killed with -9 while the second half arrives
    await publish(BATCHES_PER_PIPELINE / 2, BATCHES_PER_PIPELINE / 2 + 3);
    const publishingRest = publish(BATCHES_PER_PIPELINE / 2 + 3, BATCHES_PER_PIPELINE);
    await killed.kill();
    await publishingRest;

    // then the other replica is given every partition (once the group's session of the killed one expires) and
    // counts every row, resuming the killed one's partitions from their checkpoints
    await eventually(
      'the survivor owns every partition',
      async () => ((await survivor.ownedPartitions()) === 3 ? true : undefined),
      {
        timeoutMs: 120_000,
      },
    );
    await eventually(
      'every row counted',
      async () => ((await counted(survivor)) === 3 * ROWS_PER_PIPELINE ? true : undefined),
      { timeoutMs: 120_000 },
    );
    expect(await survivor.rowsApplied()).toBeLessThan(3 * ROWS_PER_PIPELINE);

    // and one replica alone over the same log ends with the same windows and drift results
    processes.push(reference);
    await reference.start();
    await eventually(
      'the uninterrupted run counts every row',
      async () => ((await counted(reference)) === 3 * ROWS_PER_PIPELINE ? true : undefined),
      { timeoutMs: 120_000 },
    );
    const [pairConnection, aloneConnection] = connections;
    const expected = await eventually('the uninterrupted run’s windows', async () => {
      const windows = await windowsOf(aloneConnection);
      return windows.length === WINDOWS ? windows : undefined;
    });
    const actual = await eventually('the pair’s windows', async () => {
      const windows = await windowsOf(pairConnection);
      return windows.length === WINDOWS ? windows : undefined;
    });
    expect(actual).toEqual(expected);
    expect(expected.every((window) => window.status === 'evaluated' && window.rowCount === WINDOW_ROWS)).toBe(true);
    const driftingHalf = expected.filter((window) => window.windowIndex >= WINDOWS / 6);
    expect(driftingHalf).toHaveLength(WINDOWS / 2);
    expect(driftingHalf.every((window) => window.drifted)).toBe(true);
    // The group notices a kill -9 only when the killed member's session expires (kafkajs: 30 s).
  }, 600_000);
});
