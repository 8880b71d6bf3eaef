import { type ServiceError, status } from '@grpc/grpc-js';
import { type EventData, ModelTrainedV1, type PipelineSpecV1, WellKnownAlias } from '@keel/contracts';
import { serializePackage } from '@keel/model-package';
import { BUCKETS } from '@keel/storage';
import {
  binaryTestPackage,
  columnTensors,
  eventually,
  fixtureRecords,
  InferenceClient,
  pipelineSpecFixture,
  type ServiceUnderTest,
  startServiceUnderTest,
  uniqueName,
} from '@keel/testing';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registryEnvSchema } from '../../apps/registry/src/config';
import { RegistryModule } from '../../apps/registry/src/registry.module';
import { servingEnvSchema } from '../../apps/serving/src/config';
import { ServingModule } from '../../apps/serving/src/serving.module';

type Row = Record<string, string | number | null>;

const { CHAMPION, CHALLENGER } = WellKnownAlias;

const rejection = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (error: unknown) => error as ServiceError,
  );

/**
 * Serving with the real registry (both in this process, on the real stack): versions are registered by
 * mlops.model.trained.v1, aliases moved through the registry's HTTP API, and serving loads what the registry's
 * aliases name, by its gRPC API and its alias-changed events, with no stand-in anywhere.
 */
describe('serving follows the real registry', () => {
  const pipelineId = uniqueName('serving-reg');
  const spec: PipelineSpecV1 = pipelineSpecFixture('adult-income', { id: pipelineId });
  const rows = fixtureRecords('adult', { count: 400, numeric: spec }) as Row[];
  /** One database for both: serving's start-up sync lists the pipelines the registry stores. */
  const database = 'keel_it_serving_registry';
  let registry: ServiceUnderTest;
  let serving: ServiceUnderTest;
  let client: InferenceClient;

  const registryHttp = () => request(registry.app.getHttpServer());
  const servingHttp = () => request(serving.app.getHttpServer());

  /** Trains a package on `slice` and announces it as a finished training run, as training does. */
  const train = async (run: number, slice: readonly Row[], l2: number, auc: number) => {
    const bytes = serializePackage(binaryTestPackage(spec, slice, { l2, seed: run }));
    const stored = await registry.infra.objects.putContentAddressed(BUCKETS.models, `test/${pipelineId}`, bytes, {
      extension: '.json',
    });
    const data: EventData<typeof ModelTrainedV1> = ModelTrainedV1.schema.parse({
      pipelineId,
      runId: `run-${run}`,
      algorithm: 'logistic-regression',
      packageUri: stored.uri,
      packageSha256: stored.sha256,
      metrics: { auc },
      datasetSha256: '0'.repeat(64),
      featureSetId: `fs-${'0'.repeat(16)}`,
      featureSetSha256: '0'.repeat(64),
    });
    await registry.infra.publisher.publish(ModelTrainedV1, data, { id: uniqueName(`trained-${pipelineId}-${run}`) });
  };

  const versionsInRegistry = async () =>
    ((await registryHttp().get(`/api/v1/models/${pipelineId}/versions`)).body.versions ?? []) as { version: number }[];

  const moveAlias = (alias: string, version: number) =>
    registryHttp()
      .put(`/api/v1/models/${pipelineId}/aliases/${alias}`)
      .send({ version, reason: 'serving-registry int spec' })
      .expect(200);

  const ready = async (version: string) => (await client.modelReady({ name: pipelineId, version })).ready;

  beforeAll(async () => {
    registry = await startServiceUnderTest({
      service: 'registry',
      envSchema: registryEnvSchema,
      features: [RegistryModule],
      consumers: { models: [ModelTrainedV1] },
      database,
      pipelines: [spec],
      // These hand-made events name no feature set: their claims are judged (the registry's gates.int.spec checks
      // that the default rejects them).
      env: { REGISTRY_REQUIRE_VERIFIED_METRICS: 'false' },
    });
    // v1 passes the spec's gate (auc >= 0.85) and becomes champion before serving starts.
    await train(1, rows.slice(0, 200), 1e-4, 0.9);
    await eventually('v1 champion in the registry', async () => {
      const champion = await registryHttp().get(`/api/v1/models/${pipelineId}/aliases/${CHAMPION}`);
      return champion.body.version === 1 ? true : undefined;
    });
    serving = await startServiceUnderTest({
      service: 'serving',
      envSchema: servingEnvSchema,
      features: [ServingModule],
      database,
      env: { REGISTRY_GRPC_URL: registry.grpcAddress, MODEL_LOAD_BACKOFF_MS: '20' },
    });
    client = new InferenceClient(serving.grpcAddress!);
    await eventually('ServerReady', async () => ((await client.serverReady()).ready ? true : undefined), {
      timeoutMs: 60_000,
    });
  });

  afterAll(async () => {
    client?.close();
    await serving?.close();
    await registry?.close();
  });

  it('loads the champion the registry named at start-up', async () => {
    expect(await ready(CHAMPION)).toBe(true);
    expect(await ready('1')).toBe(true);
    const response = await client.modelInfer({ modelName: pipelineId, inputs: columnTensors(spec, rows.slice(0, 2)) });
    expect(response.modelVersion).toBe('1');
  });

  it('answers two versions by version at the same time once an alias names the second, over gRPC and REST', async () => {
    // v2 passes its gate but is not better than the champion: registered without moving it.
    await train(2, rows.slice(200, 400), 1, 0.86);
    await eventually('v2 registered', async () => ((await versionsInRegistry()).length === 2 ? true : undefined));
    expect(await ready('2')).toBe(false);

    await moveAlias(CHALLENGER, 2);
    await eventually('v2 loaded by its alias', async () => ((await ready('2')) ? true : undefined), {
      timeoutMs: 30_000,
    });
    expect(await ready(CHALLENGER)).toBe(true);
    expect(await ready(CHAMPION)).toBe(true);

    const inputs = columnTensors(spec, rows.slice(0, 3));
    const [v1, v2, byDefault, byChallenger] = await Promise.all([
      client.modelInfer({ modelName: pipelineId, modelVersion: '1', inputs }),
      client.modelInfer({ modelName: pipelineId, modelVersion: '2', inputs }),
      client.modelInfer({ modelName: pipelineId, inputs }),
      client.modelInfer({ modelName: pipelineId, modelVersion: CHALLENGER, inputs }),
    ]);
    expect([v1, v2, byDefault, byChallenger].map((r) => r.modelVersion)).toEqual(['1', '2', '1', '2']);
    expect(v2.outputs[0].contents!.fp64Contents).not.toEqual(v1.outputs[0].contents!.fp64Contents);
    expect(byChallenger.outputs[0].contents!.fp64Contents).toEqual(v2.outputs[0].contents!.fp64Contents);

    // The REST binding per version: metadata, readiness and infer, each naming the version that answered.
    const body = {
      inputs: spec.features.map((feature) => ({
        name: feature.name,
        datatype: feature.type === 'numeric' ? 'FP64' : 'BYTES',
        shape: [1],
        data: [rows[0][feature.name]],
      })),
    };
    const [rest1, rest2] = await Promise.all(
      ['1', '2'].map((version) =>
        servingHttp().post(`/v2/models/${pipelineId}/versions/${version}/infer`).send(body).expect(200),
      ),
    );
    expect([rest1.body.model_version, rest2.body.model_version]).toEqual(['1', '2']);
    expect(rest1.body.outputs[0].data[0]).toBeCloseTo(v1.outputs[0].contents!.fp64Contents![0], 12);
    expect(rest2.body.outputs[0].data[0]).toBeCloseTo(v2.outputs[0].contents!.fp64Contents![0], 12);
    await servingHttp().get(`/v2/models/${pipelineId}/versions/2/ready`).expect(200);
    const metadata = await servingHttp().get(`/v2/models/${pipelineId}/versions/2`).expect(200);
    expect(metadata.body).toMatchObject({ name: pipelineId, versions: ['1', '2'], platform: 'keel' });
  });

  it('follows a champion move in the registry and unloads the version no alias names', async () => {
    await moveAlias(CHAMPION, 2);
    await eventually('v1 unloaded', async () => ((await ready('1')) ? undefined : true), { timeoutMs: 30_000 });
    const inputs = columnTensors(spec, rows.slice(0, 1));
    expect((await client.modelInfer({ modelName: pipelineId, inputs })).modelVersion).toBe('2');
    const gone = await rejection(client.modelInfer({ modelName: pipelineId, modelVersion: '1', inputs }));
    expect(gone?.code).toBe(status.NOT_FOUND);
    expect(gone?.details).toMatch(/champion=2, challenger=2/);
    await servingHttp().get(`/v2/models/${pipelineId}/versions/1/ready`).expect(503);
  });
});
