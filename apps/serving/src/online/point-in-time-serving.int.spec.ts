import { type ServiceError, status } from '@grpc/grpc-js';
import {
  type EventData,
  OnlineViewUpdatedV1,
  type PipelineSpecInput,
  PipelineSpecV1,
  WellKnownAlias,
} from '@keel/contracts';
import { type OnlineView } from '@keel/datasets';
import { ModelVersion } from '@keel/grpc-api';
import { serializePackage, signatureJoins } from '@keel/model-package';
import { OnlineViewStore, PipelineStore } from '@keel/pipelines';
import { type ModelRegistryApi, REGISTRY_CLIENT, RegistryNotFoundError } from '@keel/registry-client';
import { BUCKETS, ObjectStore } from '@keel/storage';
import {
  binaryTestPackage,
  columnTensors,
  eventually,
  InferenceClient,
  mongoUrlForDatabase,
  type ServiceUnderTest,
  stackEndpoints,
  startServiceUnderTest,
  uniqueName,
} from '@keel/testing';
import mongoose, { type Connection } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { servingEnvSchema } from '../config';
import { servingModule } from '../serving.module';

describe('serving a model with point-in-time joins against the real stack', () => {
  const pipelineId = uniqueName('pit-serving');
  const tableId = uniqueName('pit-customers');
  const spec = PipelineSpecV1.parse({
    apiVersion: 'keel/v1',
    kind: 'Pipeline',
    id: pipelineId,
    task: 'binary-classification',
    target: { column: 'churned', positive: 'yes' },
    timeColumn: 'event_time',
    entityColumns: ['customer_id'],
    features: [
      { name: 'tenure', type: 'numeric', nullable: false },
      { name: 'balance', type: 'numeric' },
      { name: 'segment', type: 'categorical' },
    ],
    joins: [{ pipeline: tableId, entityKey: 'customer_id', features: ['balance', 'segment'], maxAgeMs: 86_400_000 }],
    training: { algorithms: ['logistic-regression'], primaryMetric: 'auc' },
  } as PipelineSpecInput);
  // training rows as features would have joined them: churn is likelier with a low balance and the basic segment
  const rows = Array.from({ length: 200 }, (_, i) => ({
    tenure: i % 24,
    balance: (i * 37) % 1000,
    segment: ['basic', 'gold', 'silver'][i % 3],
    churned: (i * 37) % 1000 < 400 || i % 3 === 0 ? 'yes' : 'no',
  }));
  const database = 'keel_it_serving';
  const objects = new ObjectStore(stackEndpoints.s3);
  let mongo: Connection;
  let service: ServiceUnderTest;
  let client: InferenceClient;
  let model: ModelVersion;
  let challenger: ModelVersion;
  let overLimit: ModelVersion;

  // A challenger trained after the join changed (a created time breaking ties): another definition, its own view.
  const challengerSpec = PipelineSpecV1.parse({
    ...spec,
    joins: [{ ...spec.joins![0], createdTime: 'created' }],
  } as PipelineSpecInput);

  // A third definition (another created time), whose view is over the SERVING_MAX_ONLINE_VIEW_BYTES set below.
  const overLimitSpec = PipelineSpecV1.parse({
    ...spec,
    joins: [{ ...spec.joins![0], createdTime: 'recorded' }],
  } as PipelineSpecInput);
  const MAX_VIEW_BYTES = 2_048;

  /** Stores a view of the table and records it as current for a spec's join, as features does. */
  async function putView(sequence: number, entities: OnlineView['entities'], built: PipelineSpecV1 = spec) {
    const view: OnlineView = {
      format: 'keel.online-view',
      version: 1,
      features: [
        { name: 'balance', type: 'number' },
        { name: 'segment', type: 'string' },
      ],
      entities,
    };
    const stored = await objects.putContentAddressed(
      BUCKETS.features,
      `${pipelineId}/online-views`,
      Buffer.from(JSON.stringify(view)),
      { extension: '.json' },
    );
    const data = {
      pipelineId,
      tablePipelineId: tableId,
      upToDatasetVersionId: `ds-${'0'.repeat(31)}${sequence}`,
      sequence,
      viewUri: stored.uri,
      viewSha256: stored.sha256,
      joinSha256: signatureJoins(built)![0].joinSha256,
      entities: Object.keys(entities).length,
    } as EventData<typeof OnlineViewUpdatedV1>;
    const { pipeline: _table, maxAgeMs: _maxAge, ...join } = built.joins![0];
    await new OnlineViewStore(mongo).record({ ...data, join });
    return data;
  }

  const hourAgo = () => Date.now() - 3_600_000;
  /** Rows as the model takes them, every feature given. */
  const explicit = (given: { tenure: number; balance: number | null; segment: string | null }[]) =>
    columnTensors(spec, given);
  const keyed = (tenure: number[], keys: string[]) => [
    { name: 'tenure', datatype: 'FP64', shape: [tenure.length], contents: { fp64Contents: tenure } },
    {
      name: 'customer_id',
      datatype: 'BYTES',
      shape: [keys.length],
      contents: { bytesContents: keys.map((k) => Buffer.from(k)) },
    },
  ];
  const probabilities = async (inputs: ReturnType<typeof keyed>) =>
    (await client.modelInfer({ modelName: pipelineId, inputs })).outputs[0].contents!.fp64Contents!;

  /** A model version trained on `trained`: its package's signature names the joins' definitions. */
  async function packagedVersion(trained: PipelineSpecV1, version: number, alias: string): Promise<ModelVersion> {
    const pkg = binaryTestPackage(trained, rows);
    pkg.signature.joins = signatureJoins(trained);
    const stored = await objects.putContentAddressed(BUCKETS.models, `test/${pipelineId}`, serializePackage(pkg), {
      extension: '.json',
    });
    return ModelVersion.fromPartial({
      pipelineId,
      modelName: pipelineId,
      version,
      packageUri: stored.uri,
      packageSha256: stored.sha256,
      aliases: [alias],
    });
  }

  beforeAll(async () => {
    await objects.ensureBuckets(Object.values(BUCKETS));
    model = await packagedVersion(spec, 1, WellKnownAlias.CHAMPION);
    challenger = await packagedVersion(challengerSpec, 2, 'challenger');
    overLimit = await packagedVersion(overLimitSpec, 3, 'over-limit');
    const registry = {
      listModelVersions: async (name: string) => {
        if (name !== pipelineId) throw new RegistryNotFoundError(`model "${name}" not found`);
        return [model, challenger, overLimit];
      },
    } as ModelRegistryApi;
    mongo = await mongoose.createConnection(mongoUrlForDatabase(database)).asPromise();
    await new PipelineStore(mongo).apply(spec);
    await putView(1, {
      a: [[hourAgo(), [120, 'basic']]],
      b: [[hourAgo(), [900, 'gold']]],
      old: [[Date.now() - 3 * 86_400_000, [1, 'basic']]],
    });
    service = await startServiceUnderTest({
      service: 'serving',
      envSchema: servingEnvSchema,
      features: [servingModule({ provide: REGISTRY_CLIENT, useValue: registry })],
      database,
      env: { SERVING_MAX_ONLINE_VIEW_BYTES: String(MAX_VIEW_BYTES) },
    });
    client = new InferenceClient(service.grpcAddress!);
    await eventually('ServerReady', async () => ((await client.serverReady()).ready ? true : undefined), {
      timeoutMs: 60_000,
    });
  });

  afterAll(async () => {
    client?.close();
    await service?.close();
    await mongo?.close();
  });

  it('fills the joined features by entity key from the online view, over gRPC and REST, and follows a new view', async () => {
    // the request carries tenure and the entity key; balance and segment are the view's latest values
    const joined = await probabilities(keyed([3, 5, 7, 9], ['a', 'b', 'unknown', 'old']));
    const given = await probabilities(
      explicit([
        { tenure: 3, balance: 120, segment: 'basic' },
        { tenure: 5, balance: 900, segment: 'gold' },
        // an entity the table never had, and one older than maxAgeMs: missing values, as the model takes them
        { tenure: 7, balance: null, segment: null },
        { tenure: 9, balance: null, segment: null },
      ]) as never,
    );
    expect(joined).toEqual(given);
    expect((await client.modelMetadata({ name: pipelineId })).inputs.map((input) => input.name)).toEqual([
      'tenure',
      'balance',
      'segment',
      'customer_id',
    ]);

    // REST alike
    const response = await fetch(`${service.httpUrl}/v2/models/${pipelineId}/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        inputs: [
          { name: 'tenure', datatype: 'FP64', shape: [2], data: [3, 5] },
          { name: 'customer_id', datatype: 'BYTES', shape: [2], data: ['a', 'b'] },
        ],
      }),
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { outputs: { name: string; data: number[] }[] };
    expect(body.outputs[0].data).toEqual(given.slice(0, 2));

    // without the entity key: INVALID_ARGUMENT naming it
    const refused = await client.modelInfer({ modelName: pipelineId, inputs: keyed([3], ['a']).slice(0, 1) }).then(
      () => undefined,
      (error: unknown) => error as ServiceError,
    );
    expect(refused?.code).toBe(status.INVALID_ARGUMENT);
    expect(refused?.details).toMatch(/missing input "customer_id"/);

    // a new table version: features records its view and announces it; serving answers from it
    const data = await putView(2, { a: [[hourAgo(), [880, 'gold']]] });
    await service.infra.publisher.publish(OnlineViewUpdatedV1, data, { id: uniqueName('online-view') });
    const updated = await probabilities(explicit([{ tenure: 3, balance: 880, segment: 'gold' }]) as never);
    await eventually('the new view serves', async () =>
      (await probabilities(keyed([3], ['a'])))[0] === updated[0] ? true : undefined,
    );
  });

  it("answers a champion and a challenger trained on different join definitions each from its definition's view", async () => {
    await putView(1, { a: [[hourAgo(), [10, 'silver']]] }, challengerSpec);
    const byVersion = async (version: string, inputs: ReturnType<typeof keyed>) =>
      (await client.modelInfer({ modelName: pipelineId, modelVersion: version, inputs })).outputs[0].contents!
        .fp64Contents!;
    // the champion still reads its own view (balance 880 since the first test), the challenger the one built for it
    const champion = await byVersion('1', explicit([{ tenure: 3, balance: 880, segment: 'gold' }]) as never);
    const asChallenger = await byVersion('2', explicit([{ tenure: 3, balance: 10, segment: 'silver' }]) as never);
    expect(champion).not.toEqual(asChallenger);
    await eventually('the challenger has its view', async () =>
      (await byVersion('2', keyed([3], ['a'])))[0] === asChallenger[0] ? true : undefined,
    );
    expect(await byVersion('1', keyed([3], ['a']))).toEqual(champion);
  });

  it('answers a model whose view is over SERVING_MAX_ONLINE_VIEW_BYTES RESOURCE_EXHAUSTED (REST 507), naming it', async () => {
    const entities = Object.fromEntries(
      Array.from({ length: 100 }, (_, i) => [`customer-${i}`, [[hourAgo(), [i, 'basic']]]]),
    ) as OnlineView['entities'];
    await putView(1, entities, overLimitSpec);
    const refused = await client
      .modelInfer({ modelName: pipelineId, modelVersion: '3', inputs: keyed([3], ['customer-1']) })
      .then(
        () => undefined,
        (error: unknown) => error as ServiceError,
      );
    expect(refused?.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(refused?.metadata.get('grpc-retry-pushback-ms')).toEqual(['-1']); // no retry can help
    expect(refused?.details).toMatch(
      new RegExp(`feature table "${tableId}" .* over SERVING_MAX_ONLINE_VIEW_BYTES = ${MAX_VIEW_BYTES} bytes`),
    );
    const response = await fetch(`${service.httpUrl}/v2/models/${pipelineId}/versions/3/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        inputs: [
          { name: 'tenure', datatype: 'FP64', shape: [1], data: [3] },
          { name: 'customer_id', datatype: 'BYTES', shape: [1], data: ['customer-1'] },
        ],
      }),
    });
    expect(response.status).toBe(507);
    expect(((await response.json()) as { error: string }).error).toMatch(/SERVING_MAX_ONLINE_VIEW_BYTES/);
    // the champion, whose view fits, is unaffected
    expect(await probabilities(keyed([3], ['a']))).toHaveLength(1);
  });
});
