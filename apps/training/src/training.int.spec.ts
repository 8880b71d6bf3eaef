import { createHash } from 'node:crypto';
import {
  type ColumnType,
  deadLetterTopic,
  type EventData,
  FeaturesMaterializedV1,
  ModelTrainedV1,
  type Scalar,
  TrainingRequestedV1,
} from '@keel/contracts';
import { tableFromRecords, writeParquet } from '@keel/datasets';
import { type ColumnSpec, fitTransform, type RawValue, stableStringify } from '@keel/ml-models';
import { parsePackage } from '@keel/model-package';
import { BUCKETS } from '@keel/storage';
import {
  eventually,
  fixtureRecords,
  pipelineSpecFixture,
  type ServiceUnderTest,
  startServiceUnderTest,
  uniqueName,
  uniquePipelineId,
} from '@keel/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trainingEnvSchema } from './config';
import { TrainingModule } from './training.module';
import { trainingRunId } from './training-runs/training-runs.service';

const NUMERIC = ['age', 'fnlwgt', 'education_num', 'capital_gain', 'capital_loss', 'hours_per_week'];

/**
 * A feature set as features writes it, built here so this test needs no other service: 2,000 Adult rows, rows
 * 0-6 of every 10 train, 7 validation, 8-9 holdout, the transform fitted on the train rows.
 */
function adultFeatureSet(rows: number) {
  const records = fixtureRecords('adult', { count: rows, numeric: NUMERIC }).map(
    (record, i): Record<string, Scalar> => ({
      ...record,
      split: i % 10 < 7 ? 'train' : i % 10 === 7 ? 'validation' : 'holdout',
    }),
  );
  const names = Object.keys(records[0]).filter((name) => name !== 'split');
  const schema = [...names, 'split'].map((name) => ({
    name,
    type: (NUMERIC.includes(name) ? 'integer' : 'string') as ColumnType,
  }));
  const table = tableFromRecords(records, schema);
  const features = names.filter((name) => name !== 'income');
  const train: Record<string, RawValue[]> = {};
  for (const name of features) {
    train[name] = records.filter((r) => r.split === 'train').map((r) => r[name] as RawValue);
  }
  const specs: ColumnSpec[] = features.map((name) =>
    NUMERIC.includes(name)
      ? { name, kind: 'numeric', impute: 'median', standardize: true }
      : { name, kind: 'categorical', encoding: 'code', unknown: 'missing' },
  );
  return { parquet: writeParquet(table), transform: Buffer.from(stableStringify(fitTransform(train, specs))) };
}

describe('training against the real stack', () => {
  let sut: ServiceUnderTest;
  const pipelineId = uniquePipelineId('train-test');
  const trained = () => sut.recorder.eventsOf(ModelTrainedV1).filter((event) => event.data.pipelineId === pipelineId);
  const collection = (name: string) => sut.infra.mongo.collection(name);

  beforeAll(async () => {
    sut = await startServiceUnderTest({
      service: 'training',
      envSchema: trainingEnvSchema,
      features: [TrainingModule],
      pipelines: [pipelineSpecFixture('adult-income', { id: pipelineId })],
      consumers: { features: [FeaturesMaterializedV1], requests: [TrainingRequestedV1] },
      record: {
        topics: [ModelTrainedV1.topic, deadLetterTopic(TrainingRequestedV1.topic)],
      },
    });
  });

  afterAll(async () => {
    await sut?.close();
  });

  it('trains every algorithm on a materialized feature set and publishes the best package', async () => {
    const built = adultFeatureSet(2_000);
    const [featureSet, transform] = await Promise.all([
      sut.infra.objects.putContentAddressed(BUCKETS.features, `${pipelineId}/feature-sets`, built.parquet, {
        extension: '.parquet',
      }),
      sut.infra.objects.putContentAddressed(BUCKETS.features, `${pipelineId}/transforms`, built.transform, {
        extension: '.json',
      }),
    ]);
    const datasetSha256 = createHash('sha256').update(pipelineId).digest('hex');
    const materialized = {
      pipelineId,
      datasetVersionId: `ds-${datasetSha256.slice(0, 32)}`,
      datasetSha256,
      featureSetId: `fs-${featureSet.sha256.slice(0, 32)}`,
      featureSetUri: featureSet.uri,
      featureSetSha256: featureSet.sha256,
      transformUri: transform.uri,
      transformSha256: transform.sha256,
      rowCounts: { train: 1400, validation: 200, holdout: 400 },
    } as EventData<typeof FeaturesMaterializedV1>;
    await sut.infra.publisher.publish(FeaturesMaterializedV1, materialized, { id: uniqueName('materialized') });

    const event = await sut.recorder.waitForEvent(ModelTrainedV1, (e) => e.data.pipelineId === pipelineId, {
      timeoutMs: 60_000,
    });
    const data = event.data;
    expect(event.id).toBe(`model-trained-${data.runId}`);
    expect(data.runId).toBe(trainingRunId(pipelineId, data.packageSha256));
    expect(data).toMatchObject({ datasetSha256, featureSetId: materialized.featureSetId });
    expect(data.metrics.auc).toBeGreaterThan(0.8);

    const bytes = await sut.infra.objects.getVerified({ uri: data.packageUri, sha256: data.packageSha256 });
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(data.packageSha256);
    const pkg = parsePackage(bytes);
    expect(pkg.lineage).toMatchObject({
      datasetVersionId: materialized.datasetVersionId,
      datasetSha256,
      featureSetId: materialized.featureSetId,
      featureSetSha256: featureSet.sha256,
      transformSha256: transform.sha256,
      algorithm: data.algorithm,
      seed: 42,
      trainRows: 1400,
      holdoutRows: 400,
    });
    expect(pkg.target).toEqual({ column: 'income', positive: '>50K', negative: '<=50K' });
    expect(pkg.metrics).toEqual(data.metrics);

    const run = await collection('training_runs').findOne({ runId: data.runId });
    expect(run).toMatchObject({ pipelineId, chosen: data.algorithm, packageSha256: data.packageSha256, seed: 42 });
    expect((run!.candidates as { algorithm: string }[]).map((c) => c.algorithm)).toEqual([
      'logistic-regression',
      'gbdt',
    ]);
    expect(await collection('training_inputs').findOne({ pipelineId })).toMatchObject({
      features: { featureSetId: materialized.featureSetId },
    });
  });

  it('retrains on request from the newest feature set, once per dedupe key', async () => {
    const first = trained()[0].data;
    const dedupeKey = uniqueName('drift');
    const request = { pipelineId, reason: 'drift', requestedBy: 'training-int', dedupeKey } as EventData<
      typeof TrainingRequestedV1
    >;
    await sut.infra.publisher.publish(TrainingRequestedV1, request, { id: uniqueName('request') });
    const outcome = await eventually('request outcome', async () => {
      const doc = await collection('training_requests').findOne({ dedupeKey });
      return doc?.status === 'trained' ? doc : undefined;
    });
    // Same feature set, spec and seed: the same package and run.
    expect(outcome).toMatchObject({
      pipelineId,
      runId: first.runId,
      packageSha256: first.packageSha256,
      duplicates: 0,
    });
    await sut.recorder.waitForAll((e) => e.topic === ModelTrainedV1.topic && e.key === pipelineId, 2, {
      what: 'second model.trained',
    });

    await sut.infra.publisher.publish(TrainingRequestedV1, request, { id: uniqueName('request') });
    await eventually('duplicate counted', async () => {
      const doc = await collection('training_requests').findOne({ dedupeKey });
      return doc?.duplicates === 1 ? doc : undefined;
    });
    expect(await collection('training_runs').countDocuments({ pipelineId })).toBe(1);
  });

  it('dead-letters a request for a pipeline without a feature set, and records the failure', async () => {
    const dedupeKey = uniqueName('manual');
    const eventId = uniqueName('request');
    const other = uniqueName('no-features');
    await sut.infra.publisher.publish(
      TrainingRequestedV1,
      { pipelineId: other, reason: 'manual', requestedBy: 'training-int', dedupeKey } as EventData<
        typeof TrainingRequestedV1
      >,
      { id: eventId },
    );
    // (a training service running on the stack dead-letters the event too, in its own group)
    const dead = await sut.recorder.waitForDeadLetter(
      TrainingRequestedV1,
      (e) => e.id === eventId && e.headers.dlq_consumer === sut.consumerGroup('requests'),
    );
    expect(dead.headers.dlq_reason).toContain(`no feature set has been materialized for pipeline "${other}"`);
    expect(await collection('training_requests').findOne({ dedupeKey })).toMatchObject({ status: 'failed' });
  });
});
