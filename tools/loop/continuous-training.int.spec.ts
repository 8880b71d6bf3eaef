/**
 * The loop on the real stack, three services in one process (features, training, registry): dataset versions
 * accumulate, a training window is resolved into a snapshot, training requests are idempotent, and the registry
 * judges candidate and champion on the same rows. The concept flips between the two versions, so a model that learned
 * from the new window beats the champion on the new data: the loop learns.
 */
import {
  DatasetValidatedV1,
  derivedId,
  type EventData,
  FeaturesMaterializedV1,
  ModelRegisteredV1,
  ModelTrainedV1,
  PipelineSpecV1,
  TrainingRequestedV1,
  TrainingRequestedV2,
  WellKnownAlias,
} from '@keel/contracts';
import { readParquet, type SnapshotManifest, tableFromRecords, writeParquet } from '@keel/datasets';
import { parsePackage } from '@keel/model-package';
import { BUCKETS } from '@keel/storage';
import { eventually, type ServiceUnderTest, startServiceUnderTest, uniqueName, uniquePipelineId } from '@keel/testing';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { featuresEnvSchema } from '../../apps/features/src/config';
import { FeaturesModule } from '../../apps/features/src/features.module';
import { registryEnvSchema } from '../../apps/registry/src/config';
import { RegistryModule } from '../../apps/registry/src/registry.module';
import { trainingEnvSchema } from '../../apps/training/src/config';
import { TrainingModule } from '../../apps/training/src/training.module';

const ROWS_PER_VERSION = 1_000;

/** A pipeline whose window is the newest 1,000 rows: one dataset version. */
const spec = (id: string) =>
  PipelineSpecV1.parse({
    apiVersion: 'keel/v1',
    kind: 'Pipeline',
    id,
    task: 'binary-classification',
    target: { column: 'label', positive: 'yes' },
    features: [
      { name: 'x', type: 'numeric' },
      { name: 'noise', type: 'categorical' },
    ],
    training: { algorithms: ['logistic-regression'], primaryMetric: 'auc', window: { type: 'rows', rows: 1_000 } },
    validation: { minRows: 10 },
  });

/** Rows of one dataset version: the label is `x > 0` before the concept flips and `x < 0` after. */
function rows(version: number, flipped: boolean) {
  return Array.from({ length: ROWS_PER_VERSION }, (_, i) => {
    const x = (((i * 7919 + version * 104_729) % 2_000) - 1_000) / 100 + 0.005;
    return { x, noise: ['a', 'b', 'c'][(i * 31 + version) % 3], label: x > 0 !== flipped ? 'yes' : 'no' };
  });
}

describe('continuous training on the real stack', () => {
  const pipelineId = uniquePipelineId('loop-test');
  const database = `keel_it_loop_${pipelineId.replace(/\W/g, '_')}`;
  let features: ServiceUnderTest;
  let training: ServiceUnderTest;
  let registry: ServiceUnderTest;
  const versions: EventData<typeof DatasetValidatedV1>[] = [];
  const mongo = () => registry.infra.mongo;
  const registered = () =>
    registry.recorder.eventsOf(ModelRegisteredV1).filter((event) => event.data.pipelineId === pipelineId);
  const trained = () =>
    registry.recorder.eventsOf(ModelTrainedV1).filter((event) => event.data.pipelineId === pipelineId);

  /** Stores a dataset version and announces it as validated, as validation would. */
  async function validatedVersion(flipped: boolean): Promise<EventData<typeof DatasetValidatedV1>> {
    const sequence = versions.length + 1;
    const table = tableFromRecords(rows(sequence, flipped), [
      { name: 'x', type: 'number' },
      { name: 'noise', type: 'string' },
      { name: 'label', type: 'string' },
    ]);
    const stored = await features.infra.objects.putContentAddressed(
      BUCKETS.datasets,
      pipelineId,
      writeParquet(table, { 'keel.pipeline_id': pipelineId }),
      { extension: '.parquet' },
    );
    const data = DatasetValidatedV1.schema.parse({
      pipelineId,
      datasetVersionId: derivedId('ds', [pipelineId, stored.sha256]),
      datasetUri: stored.uri,
      datasetSha256: stored.sha256,
      reportUri: `s3://${BUCKETS.reports}/${pipelineId}/report-${sequence}.json`,
      warnings: [],
      sequence,
      rowCount: ROWS_PER_VERSION,
      ...(versions.length ? { parentVersionId: versions.at(-1)!.datasetVersionId } : {}),
    });
    await features.infra.publisher.publish(DatasetValidatedV1, data, { id: uniqueName('validated') });
    versions.push(data);
    return data;
  }

  async function champion() {
    const response = await request(registry.app.getHttpServer()).get(
      `/api/v1/models/${pipelineId}/aliases/${WellKnownAlias.CHAMPION}`,
    );
    return response.status === 200 ? (response.body as { version: number }) : undefined;
  }

  const requestOutcome = (requestId: string) =>
    eventually(
      `training request ${requestId} trained`,
      async () => {
        const response = await request(training.app.getHttpServer()).get(
          `/api/v1/pipelines/${pipelineId}/training-requests/${encodeURIComponent(requestId)}`,
        );
        return response.body?.status === 'trained' ? (response.body as Record<string, unknown>) : undefined;
      },
      { timeoutMs: 120_000 },
    );

  beforeAll(async () => {
    const shared = { database, env: { WORKER_THREADS: '1' } };
    registry = await startServiceUnderTest({
      ...shared,
      service: 'registry',
      envSchema: registryEnvSchema,
      features: [RegistryModule],
      pipelines: [spec(pipelineId)],
      consumers: { models: [ModelTrainedV1] },
      record: {
        topics: [ModelRegisteredV1.topic, ModelTrainedV1.topic, FeaturesMaterializedV1.topic],
        keep: (event) => event.key === pipelineId,
      },
    });
    training = await startServiceUnderTest({
      ...shared,
      service: 'training',
      envSchema: trainingEnvSchema,
      features: [TrainingModule],
      consumers: { features: [FeaturesMaterializedV1] },
    });
    features = await startServiceUnderTest({
      ...shared,
      service: 'features',
      envSchema: featuresEnvSchema,
      features: [FeaturesModule],
      consumers: {
        datasets: [DatasetValidatedV1],
        'training-requests': [TrainingRequestedV1, TrainingRequestedV2],
      },
    });
  }, 180_000);

  afterAll(async () => {
    await Promise.all([features?.close(), training?.close(), registry?.close()]);
  });

  it('trains a first champion on the first dataset version, its lineage naming the window', async () => {
    const first = await validatedVersion(false);
    await eventually('champion v1', async () => ((await champion())?.version === 1 ? true : undefined), {
      timeoutMs: 180_000,
    });
    const [event] = trained();
    expect(event.data.snapshot).toMatchObject({
      upToDatasetVersionId: first.datasetVersionId,
      window: 'last 1000 rows',
      increments: 1,
      rows: ROWS_PER_VERSION,
    });
    expect(event.data.trigger).toEqual({ reason: 'new-data' });
  }, 240_000);

  it('gives one run for the same request delivered twice, with nothing new to learn from', async () => {
    const requestId = uniqueName('manual');
    const posted = await request(training.app.getHttpServer())
      .post(`/api/v1/pipelines/${pipelineId}/training-requests`)
      .send({ requestId, requestedBy: 'loop-int' })
      .expect(202);
    expect(posted.body).toMatchObject({ pipelineId, requestId, reason: 'manual' });
    // The same request again, under another CloudEvent id: a redelivery the processed-event store cannot catch.
    await training.infra.publisher.publish(
      TrainingRequestedV2,
      TrainingRequestedV2.schema.parse({ pipelineId, requestId, reason: 'manual', requestedBy: 'loop-int' }),
      { id: uniqueName('redelivered') },
    );
    const outcome = await requestOutcome(requestId);
    const [first] = trained();
    // Same window, spec and seed: the same package, hence the same run, and no new version.
    expect(outcome).toMatchObject({ runId: first.data.runId, packageSha256: first.data.packageSha256 });
    // Features answered both deliveries with one event id, so training trained once for the request.
    const answers = await eventually('both deliveries answered', async () => {
      const found = registry.recorder
        .eventsOf(FeaturesMaterializedV1)
        .filter((event) => event.data.trigger?.requestId === requestId);
      return found.length >= 2 ? found : undefined;
    });
    expect(new Set(answers.map((event) => event.id)).size).toBe(1);
    expect(trained().filter((event) => event.data.trigger?.requestId === requestId)).toHaveLength(1);
    expect(new Set(trained().map((event) => event.data.runId)).size).toBe(1);
    expect(await mongo().collection('training_runs').countDocuments({ pipelineId })).toBe(1);
    expect(await mongo().collection('model_versions').countDocuments({ modelName: pipelineId })).toBe(1);
  }, 180_000);

  it('retrains after new data into a new package whose lineage names the new window, and the champion moves', async () => {
    const second = await validatedVersion(true);
    const version2 = await eventually(
      'version 2 registered',
      async () => registered().find((event) => event.data.version === 2),
      { timeoutMs: 180_000 },
    );
    const candidate = trained().find((event) => event.data.snapshot?.upToDatasetVersionId === second.datasetVersionId)!;
    expect(candidate.data.packageSha256).not.toBe(trained()[0].data.packageSha256);

    // The lineage names the window: the snapshot manifest lists exactly the rows the model saw.
    const pkg = parsePackage(
      await registry.infra.objects.getVerified({
        uri: candidate.data.packageUri,
        sha256: candidate.data.packageSha256,
      }),
    );
    expect(pkg.lineage.snapshot).toEqual(candidate.data.snapshot);
    // The served model was refit on all 1,000 rows of the window; the one its metrics come from never saw the holdout.
    expect(pkg.lineage.servedModelFittedOn).toEqual({ splits: ['train', 'validation', 'holdout'], rows: 1_000 });
    expect(pkg.evaluation?.fittedOn.splits).toEqual(['train']);
    const manifest = JSON.parse(
      (
        await registry.infra.objects.getVerified({
          uri: pkg.lineage.snapshot!.manifestUri,
          sha256: pkg.lineage.snapshot!.manifestSha256,
        })
      ).toString(),
    ) as SnapshotManifest;
    expect(manifest.upTo).toEqual({ datasetVersionId: second.datasetVersionId, sequence: 2 });
    expect(
      manifest.increments.map(({ datasetVersionId, sha256, rows }) => ({ datasetVersionId, sha256, rows })),
    ).toEqual([
      { datasetVersionId: second.datasetVersionId, sha256: second.datasetSha256, rows: [[0, ROWS_PER_VERSION]] },
    ]);

    // Candidate and champion were scored on the same rows: the new window's holdout, which v1 never saw.
    const holdout = (
      await readParquet(
        await registry.infra.objects.getVerified({
          uri: candidate.data.featureSetUri!,
          sha256: candidate.data.featureSetSha256,
        }),
      )
    ).columns
      .find((c) => c.name === 'split')!
      .values.filter((split) => split === 'holdout').length;
    expect(version2.data.comparison).toMatchObject({ championVersion: 1, metric: 'auc', rows: holdout });
    expect(version2.data.comparison!.candidate).toBeGreaterThan(0.95);
    expect(version2.data.comparison!.champion).toBeLessThan(0.05);
    const stored = await mongo().collection('model_versions').findOne({ modelName: pipelineId, version: 2 });
    expect(stored?.comparison).toMatchObject({ championVersion: 1, rows: holdout, excludedRows: 0 });
    // Those rows are the newest labelled ones, which v1's feature set never held (not stale rows both held out).
    expect(stored?.comparison.evaluationData).toContain('newest, which the champion never saw');
    expect(stored?.lineage.snapshot.upToDatasetVersionId).toBe(second.datasetVersionId);
    await eventually('champion v2', async () => ((await champion())?.version === 2 ? true : undefined), {
      timeoutMs: 60_000,
    });
  }, 240_000);

  it('answers a new request after new data with the new window, a different run and package than before', async () => {
    const [before] = trained();
    const requestId = uniqueName('drift');
    await training.infra.publisher.publish(
      TrainingRequestedV2,
      TrainingRequestedV2.schema.parse({ pipelineId, requestId, reason: 'concept-drift', requestedBy: 'loop-int' }),
      { id: uniqueName('request') },
    );
    const outcome = await requestOutcome(requestId);
    expect(outcome.runId).not.toBe(before.data.runId);
    expect(outcome.packageSha256).not.toBe(before.data.packageSha256);
    expect(outcome.snapshot).toMatchObject({ upToDatasetVersionId: versions[1].datasetVersionId });
    expect(outcome.reason).toBe('concept-drift');
  }, 180_000);
});
