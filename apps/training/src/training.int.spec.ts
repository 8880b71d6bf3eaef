import { createHash } from 'node:crypto';
import {
  type ColumnType,
  type EventData,
  FeaturesMaterializedV1,
  ModelTrainedV1,
  type Scalar,
  TrainingRequestedV2,
  TrainingSearch,
} from '@keel/contracts';
import { tableFromRecords, writeParquet } from '@keel/datasets';
import { type ColumnSpec, fitTransform, type RawValue, stableStringify } from '@keel/ml-models';
import { parsePackage } from '@keel/model-package';
import { BUCKETS } from '@keel/storage';
import request from 'supertest';
import {
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
  const tunedId = uniquePipelineId('train-search');
  const search = TrainingSearch.parse({
    gbdt: {
      strategy: 'successive-halving',
      trials: 13,
      minResource: 20,
      maxResource: 180,
      space: {
        learningRate: { kind: 'logUniform', min: 0.03, max: 0.3 },
        maxLeaves: { kind: 'int', min: 4, max: 31 },
      },
    },
    'logistic-regression': { trials: 3, space: { l2: { kind: 'logUniform', min: 1e-5, max: 1e-2 } } },
  });
  const collection = (name: string) => sut.infra.mongo.collection(name);

  beforeAll(async () => {
    sut = await startServiceUnderTest({
      service: 'training',
      envSchema: trainingEnvSchema,
      features: [TrainingModule],
      pipelines: [
        pipelineSpecFixture('adult-income', { id: pipelineId }),
        pipelineSpecFixture('adult-income', {
          id: tunedId,
          training: {
            algorithms: ['logistic-regression', 'gbdt'],
            primaryMetric: 'auc',
            seed: 42,
            window: { type: 'all' },
            search,
          },
        }),
      ],
      consumers: { features: [FeaturesMaterializedV1] },
      record: { topics: [ModelTrainedV1.topic, TrainingRequestedV2.topic] },
    });
  });

  afterAll(async () => {
    await sut?.close();
  });

  /** Stores a 2,000-row Adult feature set for a pipeline and announces it. */
  async function materialize(id: string) {
    const built = adultFeatureSet(2_000);
    const [featureSet, transform] = await Promise.all([
      sut.infra.objects.putContentAddressed(BUCKETS.features, `${id}/feature-sets`, built.parquet, {
        extension: '.parquet',
      }),
      sut.infra.objects.putContentAddressed(BUCKETS.features, `${id}/transforms`, built.transform, {
        extension: '.json',
      }),
    ]);
    const datasetSha256 = createHash('sha256').update(id).digest('hex');
    const materialized = {
      pipelineId: id,
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
    return { featureSet, transform, datasetSha256, materialized };
  }

  it('trains every algorithm on a materialized feature set and publishes the best package', async () => {
    const { featureSet, transform, datasetSha256, materialized } = await materialize(pipelineId);
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
    // the served model is refit on the whole window; the metrics are the measured model's, which saw the train split
    expect(pkg.evaluation?.fittedOn).toEqual({ splits: ['train'], rows: 1400 });
    expect(pkg.lineage.servedModelFittedOn).toEqual({ splits: ['train', 'validation', 'holdout'], rows: 2000 });

    const run = await collection('training_runs').findOne({ runId: data.runId });
    expect(run).toMatchObject({ pipelineId, chosen: data.algorithm, packageSha256: data.packageSha256, seed: 42 });
    expect((run!.candidates as { algorithm: string }[]).map((c) => c.algorithm)).toEqual([
      'logistic-regression',
      'gbdt',
    ]);
    expect(data.featureSetUri).toBe(featureSet.uri);
    expect(data.trigger).toEqual({ reason: 'new-data' });
  });

  it('searches the spec’s hyperparameters on worker threads under its budget and packages the refit best', async () => {
    await materialize(tunedId);
    const event = await sut.recorder.waitForEvent(ModelTrainedV1, (e) => e.data.pipelineId === tunedId, {
      timeoutMs: 180_000,
    });
    const run = await collection('training_runs').findOne({ runId: event.data.runId });
    const summaries = run!.search as { algorithm: string; trials: number; stoppedBy: string; bestParams: object }[];
    expect(summaries.map(({ algorithm, trials, stoppedBy }) => ({ algorithm, trials, stoppedBy }))).toEqual([
      { algorithm: 'logistic-regression', trials: 3, stoppedBy: 'trials' },
      { algorithm: 'gbdt', trials: 13, stoppedBy: 'completed' },
    ]);
    const candidates = run!.candidates as {
      algorithm: string;
      params: Record<string, unknown>;
      validationScore: number;
    }[];
    expect(candidates.every((c) => Number.isFinite(c.validationScore))).toBe(true);
    // the package holds the chosen configuration, refit with the rounds its best trial kept
    const pkg = parsePackage(
      await sut.infra.objects.getVerified({ uri: event.data.packageUri, sha256: event.data.packageSha256 }),
    );
    const chosen = summaries.find((s) => s.algorithm === event.data.algorithm)!;
    expect(pkg.lineage.params).toMatchObject(chosen.bestParams);
    expect(event.data.metrics.auc).toBeGreaterThan(0.8);

    // every trial, candidate and the run itself are experiment runs, listed, compared and read over HTTP
    const http = () => request(sut.app.getHttpServer());
    const base = `/api/v1/pipelines/${tunedId}/runs`;
    const trials = (await http().get(`${base}?kind=trial&sort=auc&limit=50`).expect(200)).body.runs as {
      runId: string;
      parentRunId: string;
      metrics: { auc: number };
      codeVersion: string;
    }[];
    expect(trials).toHaveLength(16);
    expect(trials.every((t) => t.parentRunId === event.data.runId)).toBe(true);
    const aucs = trials.map((t) => t.metrics.auc);
    expect(aucs).toEqual([...aucs].sort((a, b) => b - a));
    expect(trials[0].codeVersion).toBe(pkg.lineage.codeVersion);
    expect(pkg.lineage.codeVersion).toMatch(/^git:[0-9a-f]{40}(\+dirty)?$/);

    const compared = await http().get(`${base}/compare?ids=${trials[0].runId},${trials[15].runId}`).expect(200);
    expect(compared.body.runIds).toEqual([trials[0].runId, trials[15].runId]);
    expect(compared.body.metrics.auc).toEqual([aucs[0], aucs[15]]);
    expect(compared.body.best.auc).toBe(trials[0].runId);

    const best = await http().get(`${base}/best`).expect(200);
    expect(best.body).toMatchObject({ metric: 'auc', run: { kind: 'candidate', parentRunId: event.data.runId } });
    expect(event.data.candidates!.map((c) => c.runId)).toContain(best.body.run.runId);
    const parent = await http().get(`${base}/${event.data.runId}`).expect(200);
    expect(parent.body).toMatchObject({ kind: 'training', packageSha256: event.data.packageSha256 });
    await http().get(`${base}/compare?ids=${trials[0].runId}`).expect(400);
    await http().get(`${base}/run-nothing`).expect(404);
  }, 240_000);

  it('takes training requests over HTTP, refusing a bad one and an unknown pipeline', async () => {
    const http = () => request(sut.app.getHttpServer());
    await http()
      .post(`/api/v1/pipelines/${pipelineId}/training-requests`)
      .send({ reason: 'because' })
      .expect(400)
      .expect((response) => expect(response.body.issues[0]).toContain('reason'));
    await http()
      .post(`/api/v1/pipelines/${uniquePipelineId('nobody')}/training-requests`)
      .send({})
      .expect(404);

    const requestId = uniqueName('manual');
    const posted = await http()
      .post(`/api/v1/pipelines/${pipelineId}/training-requests`)
      .send({ requestId, details: 'after the upstream fix' })
      .expect(202);
    expect(posted.body).toEqual({
      pipelineId,
      requestId,
      reason: 'manual',
      status: `/api/v1/pipelines/${pipelineId}/training-requests/${requestId}`,
    });
    const event = await sut.recorder.waitForEvent(TrainingRequestedV2, (e) => e.data.requestId === requestId);
    expect(event.data).toEqual({
      pipelineId,
      requestId,
      reason: 'manual',
      requestedBy: 'http',
      details: 'after the upstream fix',
    });
    const read = await http().get(posted.body.status).expect(200);
    expect(read.body).toMatchObject({ pipelineId, requestId, status: 'requested', reason: 'manual' });
  });
});
