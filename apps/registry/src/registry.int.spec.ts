import {
  deadLetterTopic,
  type EventData,
  ModelAliasChangedV1,
  ModelRegisteredV1,
  ModelTrainedV1,
  WellKnownAlias,
} from '@keel/contracts';
import { createModelDocument, matrixFromRows, trainLogisticRegression } from '@keel/ml-models';
import { buildReference, type ModelPackage, serializePackage } from '@keel/model-package';
import { parseSpecDocument } from '@keel/pipelines';
import { RegistryClient, RegistryInvalidArgumentError, RegistryNotFoundError } from '@keel/registry-client';
import { BUCKETS } from '@keel/storage';
import {
  eventually,
  type RecordedEvent,
  type ServiceUnderTest,
  startServiceUnderTest,
  TopicRecorder,
  uniqueName,
} from '@keel/testing';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registryEnvSchema } from './config';
import { RegistryModule } from './registry.module';

const specYaml = (id: string) => `
apiVersion: keel/v1
kind: Pipeline
id: ${id}
task: binary-classification
target: { column: label, positive: 'yes' }
features:
  - { name: x1, type: numeric }
training:
  algorithms: [logistic-regression]
  primaryMetric: auc
gates:
  - { metric: auc, min: 0.7 }
`;

/** A regression spec as a JSON body (its id given by each test). */
const JSON_SPEC = {
  apiVersion: 'keel/v1',
  kind: 'Pipeline',
  task: 'regression',
  target: { column: 'y' },
  features: [{ name: 'x', type: 'numeric' }],
  training: { algorithms: ['linear-regression'], primaryMetric: 'rmse' },
};

/** A real (tiny) package: logistic regression on four rows; `seed` makes each one's bytes distinct. */
function tinyPackage(pipelineId: string, seed: number, metrics: Record<string, number>): Buffer {
  const model = trainLogisticRegression(matrixFromRows([[0], [1], [2], [3]]), [0, 0, 1, 1]);
  const inputs = [{ name: 'x1', datatype: 'FP64' as const, kind: 'numeric' as const, nullable: true }];
  const pkg: ModelPackage = {
    format: 'keel.package',
    version: 1,
    pipelineId,
    modelName: pipelineId,
    task: 'binary-classification',
    target: { column: 'label', positive: 'yes', negative: 'no' },
    signature: { inputs, outputs: [] },
    model: createModelDocument({ model, features: ['x1'], classes: ['no', 'yes'] }),
    metrics,
    lineage: {
      datasetVersionId: `ds-${'a'.repeat(15)}${seed}`,
      datasetSha256: 'a'.repeat(64),
      featureSetId: `fs-${'b'.repeat(16)}`,
      featureSetSha256: 'b'.repeat(64),
      transformSha256: 'c'.repeat(64),
      codeVersion: 'test-0.1.0',
      seed,
      algorithm: 'logistic-regression',
      params: {},
      trainRows: 4,
      holdoutRows: 0,
    },
    reference: buildReference(inputs, { x1: [0, 1, 2, 3] }),
  };
  return serializePackage(pkg);
}

describe('registry against the real stack', () => {
  let service: ServiceUnderTest;
  let recorder: TopicRecorder;
  let client: RegistryClient;
  const pipelineId = uniqueName('reg-test');
  /** What the registry published (and dead-lettered) for this test's model so far. */
  const seen = () => recorder.events as readonly RecordedEvent<Record<string, unknown>>[];

  beforeAll(async () => {
    recorder = await TopicRecorder.start({
      topics: [ModelRegisteredV1.topic, ModelAliasChangedV1.topic, deadLetterTopic(ModelTrainedV1.topic)],
      keep: (event) => event.key === pipelineId,
      clientId: 'registry-int',
    });
    service = await startServiceUnderTest({
      service: 'registry',
      envSchema: registryEnvSchema,
      features: [RegistryModule],
      consumers: { models: [ModelTrainedV1] },
      // These hand-made events name no feature set: their claims are judged (gates.int.spec checks the default).
      env: { REGISTRY_REQUIRE_VERIFIED_METRICS: 'false' },
    });
    client = new RegistryClient(service.grpcAddress!);
  });

  afterAll(async () => {
    client?.close();
    await recorder?.stop();
    await service?.close();
  });

  const http = () => request(service.app.getHttpServer());

  async function trained(seed: number, metrics: Record<string, number>, runId = `run-${seed}`) {
    const stored = await service.infra.objects.putContentAddressed(
      BUCKETS.models,
      `test/${pipelineId}`,
      tinyPackage(pipelineId, seed, metrics),
      {
        extension: '.json',
      },
    );
    const data = {
      pipelineId,
      runId,
      algorithm: 'logistic-regression',
      packageUri: stored.uri,
      packageSha256: stored.sha256,
      metrics,
      datasetSha256: 'a'.repeat(64),
      featureSetId: `fs-${'b'.repeat(16)}`,
      featureSetSha256: 'b'.repeat(64),
    } as EventData<typeof ModelTrainedV1>;
    return { data, sha256: stored.sha256 };
  }

  const versionsOf = async () => (await http().get(`/api/v1/models/${pipelineId}/versions`)).body.versions ?? [];
  const champion = async () =>
    (await http().get(`/api/v1/models/${pipelineId}/aliases/${WellKnownAlias.CHAMPION}`)).body;

  it('applies a YAML spec, keeps its version when unchanged, and reads it back', async () => {
    const first = await http()
      .put(`/api/v1/pipelines/${pipelineId}`)
      .set('content-type', 'application/yaml')
      .send(specYaml(pipelineId));
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ pipelineId, version: 1, created: true });
    const again = await http()
      .put(`/api/v1/pipelines/${pipelineId}`)
      .set('content-type', 'text/plain')
      .send(specYaml(pipelineId));
    expect(again.body).toEqual({ pipelineId, version: 1, created: false });

    const read = await http().get(`/api/v1/pipelines/${pipelineId}`).expect(200);
    expect(read.body).toMatchObject({
      pipelineId,
      version: 1,
      spec: { id: pipelineId, gates: [{ metric: 'auc', min: 0.7 }] },
    });
    const list = await http().get('/api/v1/pipelines').expect(200);
    expect(list.body.pipelines.map((p: { pipelineId: string }) => p.pipelineId)).toContain(pipelineId);
    await http()
      .get(`/api/v1/pipelines/${uniqueName('missing')}`)
      .expect(404);
  });

  it('applies a JSON spec and rejects invalid specs and id mismatches with 400 and issues', async () => {
    const other = uniqueName('reg-json');
    const spec = { ...JSON_SPEC, id: other };
    await http()
      .put(`/api/v1/pipelines/${other}`)
      .send(spec)
      .expect(200, { pipelineId: other, version: 1, created: true });

    const mismatch = await http()
      .put(`/api/v1/pipelines/${uniqueName('elsewhere')}`)
      .send(spec)
      .expect(400);
    expect(mismatch.body.issues.join('\n')).toMatch(/differs from the path/);
    const invalid = await http()
      .put(`/api/v1/pipelines/${other}`)
      .set('content-type', 'application/yaml')
      .send(specYaml(other).replace('primaryMetric: auc', 'primaryMetric: rmse'))
      .expect(400);
    expect(invalid.body).toMatchObject({ error: 'invalid pipeline spec' });
    expect(invalid.body.issues.join('\n')).toMatch(/training\.primaryMetric/);
  });

  it('applies a spec with point-in-time joins only once its table is applied with the columns it joins', async () => {
    const table = uniqueName('reg-table');
    const joining = uniqueName('reg-joins');
    const training = { algorithms: ['linear-regression'], primaryMetric: 'rmse' };
    const common = { apiVersion: 'keel/v1', kind: 'Pipeline', task: 'regression', training };
    const joinSpec = {
      ...common,
      id: joining,
      target: { column: 'y' },
      timeColumn: 'event_time',
      entityColumns: ['customer_id'],
      features: [
        { name: 'tenure', type: 'numeric' },
        { name: 'balance', type: 'numeric' },
      ],
      joins: [{ pipeline: table, entityKey: 'customer_id', features: ['balance'] }],
    };
    const tableSpec = (balance: 'numeric' | 'categorical') => ({
      ...common,
      id: table,
      target: { column: 'balance_next' },
      timeColumn: 'feature_time',
      entityColumns: ['customer_id'],
      features: [{ name: 'balance', type: balance }],
    });
    const apply = (id: string, spec: object, status: number) =>
      http().put(`/api/v1/pipelines/${id}`).send(spec).expect(status);

    expect((await apply(joining, joinSpec, 400)).body.issues).toEqual([
      `joins.0.pipeline: pipeline "${table}" is not applied: apply it first`,
    ]);
    await apply(table, tableSpec('categorical'), 200);
    expect((await apply(joining, joinSpec, 400)).body.issues).toEqual([
      `joins.0.features.0: "balance" is string in "${table}", number here`,
    ]);
    await apply(table, tableSpec('numeric'), 200);
    await apply(joining, joinSpec, 200);
    // the join's feature time is recorded (the table's timeColumn), so the join's hash covers it
    const stored = await http().get(`/api/v1/pipelines/${joining}`).expect(200);
    expect(stored.body.spec.joins[0]).toMatchObject({ featureTime: 'feature_time' });
    // and the table cannot move its timeColumn from under the join
    expect(
      (await apply(table, { ...tableSpec('numeric'), timeColumn: 'updated_at' }, 400)).body.issues.join('\n'),
    ).toMatch(new RegExp(`^pipeline "${joining}" joins this one: joins\\.0\\.featureTime: reads timeColumn`));
  });

  it('refuses a column named __proto__ over JSON and YAML, naming its path; one an earlier build stored still reads', async () => {
    const id = uniqueName('reg-proto');
    const json = JSON.stringify({ ...JSON_SPEC, id }).replace('"x"', '"__proto__"');
    const yaml = specYaml(id).replace('name: x1', 'name: __proto__');
    for (const [type, body] of [
      ['application/json', json],
      ['application/yaml', yaml],
    ]) {
      const refused = await http().put(`/api/v1/pipelines/${id}`).set('content-type', type).send(body).expect(400);
      expect(refused.body.issues).toHaveLength(1);
      expect(refused.body.issues[0]).toMatch(/^features\.0\.name: "__proto__" cannot name a column: /);
    }
    const shift = JSON.stringify({
      ...JSON_SPEC,
      id,
      validation: { shift: { columns: { proto: { action: 'reject' } } } },
    });
    const dropped = await http()
      .put(`/api/v1/pipelines/${id}`)
      .set('content-type', 'application/json')
      .send(shift.replace('"proto"', '"__proto__"'))
      .expect(400);
    expect(dropped.body.issues).toEqual([
      'validation.shift.columns.__proto__: "__proto__" cannot be a key: reading the spec would drop it without a ' +
        'word (a JavaScript object takes it as its prototype)',
    ]);
    await http().get(`/api/v1/pipelines/${id}`).expect(404);

    // Stored as an earlier build did (the schema accepts the name): it still lists and reads.
    await service.infra.pipelines.apply(parseSpecDocument(yaml));
    const read = await http().get(`/api/v1/pipelines/${id}`).expect(200);
    expect(read.body.spec.features.map((feature: { name: string }) => feature.name)).toEqual(['__proto__']);
    const list = await http().get('/api/v1/pipelines').expect(200);
    expect(list.body.pipelines.map((p: { pipelineId: string }) => p.pipelineId)).toContain(id);
  });

  it('registers a passing version as champion and publishes both events', async () => {
    const { data, sha256 } = await trained(1, { auc: 0.8, f1: 0.6 });
    await service.infra.publisher.publish(ModelTrainedV1, data, { id: `trained-${pipelineId}-1` });
    const [v1] = await eventually('version 1', async () =>
      (await versionsOf()).length === 1 ? versionsOf() : undefined,
    );
    expect(v1).toMatchObject({
      modelName: pipelineId,
      version: 1,
      pipelineId,
      packageSha256: sha256,
      algorithm: 'logistic-regression',
      metrics: { auc: 0.8, f1: 0.6 },
      lineage: { datasetVersionId: `ds-${'a'.repeat(15)}1`, codeVersion: 'test-0.1.0', seed: 1, runId: 'run-1' },
      gates: [{ gate: 'auc >= 0.7', passed: true, observed: 0.8, threshold: 0.7 }],
      gatesPassed: true,
    });
    expect(
      (
        await eventually(WellKnownAlias.CHAMPION, async () =>
          (await champion()).version === 1 ? champion() : undefined,
        )
      ).aliases,
    ).toEqual([WellKnownAlias.CHAMPION]);

    const changed = await eventually('alias-changed v1', async () =>
      seen().find((event) => event.topic === ModelAliasChangedV1.topic && event.data.version === 1),
    );
    expect(changed.id).toBe(`alias-changed-${pipelineId}-champion-1`);
    expect(changed.data).toMatchObject({
      alias: WellKnownAlias.CHAMPION,
      modelName: pipelineId,
      changedBy: 'registry',
    });
    expect(changed.data.previousVersion).toBeUndefined();
    const registered = seen().find((event) => event.topic === ModelRegisteredV1.topic && event.data.version === 1);
    expect(registered?.id).toBe(`model-registered-${pipelineId}-1`);
    expect(registered?.data).toMatchObject({ gatesPassed: true, packageSha256: sha256 });
  });

  it('counts the same event twice, and the same package under a new event, as one version', async () => {
    const { data } = await trained(1, { auc: 0.8, f1: 0.6 });
    await service.infra.publisher.publish(ModelTrainedV1, data, { id: `trained-${pipelineId}-1` });
    await service.infra.publisher.publish(
      ModelTrainedV1,
      { ...data, runId: 'run-1-retry' },
      { id: `trained-${pipelineId}-1-again` },
    );
    // A marker event after them: once it is registered, the duplicates have been processed (same partition, in order).
    const marker = await trained(2, { auc: 0.6 });
    await service.infra.publisher.publish(ModelTrainedV1, marker.data, { id: `trained-${pipelineId}-2` });
    const versions = await eventually('version 2', async () =>
      (await versionsOf()).length >= 2 ? versionsOf() : undefined,
    );
    expect(versions.map((v: { version: number }) => v.version)).toEqual([2, 1]);
  });

  it('registers a version that fails its gate without moving the champion, saying why', async () => {
    const [v2] = await versionsOf();
    expect(v2).toMatchObject({
      version: 2,
      gatesPassed: false,
      gates: [{ gate: 'auc >= 0.7', passed: false, observed: 0.6, threshold: 0.7, message: 'auc 0.6 < min 0.7' }],
    });
    expect((await champion()).version).toBe(1);
    const registered = await eventually('registered v2', async () =>
      seen().find((event) => event.topic === ModelRegisteredV1.topic && event.data.version === 2),
    );
    expect(registered.data).toMatchObject({
      gatesPassed: false,
      gates: [{ passed: false, message: 'auc 0.6 < min 0.7' }],
    });
    expect(seen().some((event) => event.topic === ModelAliasChangedV1.topic && event.data.version === 2)).toBe(false);
  });

  it('moves the champion to a better version, recording the previous one', async () => {
    const { data } = await trained(3, { auc: 0.85 });
    await service.infra.publisher.publish(ModelTrainedV1, data, { id: `trained-${pipelineId}-3` });
    await eventually('champion v3', async () => ((await champion()).version === 3 ? true : undefined));
    const changed = await eventually('alias-changed v3', async () =>
      seen().find((event) => event.topic === ModelAliasChangedV1.topic && event.data.version === 3),
    );
    // The event id names the move's number in the alias's history: this is the champion's second move.
    expect(changed).toMatchObject({ id: `alias-changed-${pipelineId}-champion-2`, data: { previousVersion: 1 } });
    // A replayed registration republishes its events under the same ids (consumers deduplicate): two moves in all.
    const moveIds = new Set(
      seen()
        .filter((event) => event.topic === ModelAliasChangedV1.topic)
        .map((event) => event.id),
    );
    expect([...moveIds]).toEqual([`alias-changed-${pipelineId}-champion-1`, `alias-changed-${pipelineId}-champion-2`]);
  });

  it('dead-letters an event whose package does not match its sha256, registering nothing', async () => {
    const { data } = await trained(4, { auc: 0.99 });
    const eventId = `trained-${pipelineId}-bad-sha`;
    await service.infra.publisher.publish(ModelTrainedV1, { ...data, packageSha256: 'f'.repeat(64) }, { id: eventId });
    // A registry running on the stack dead-letters the test's events too (it does not know the pipeline): ours only.
    const dead = await eventually('dead letter', async () =>
      seen().find(
        (event) =>
          event.topic === deadLetterTopic(ModelTrainedV1.topic) &&
          event.id === eventId &&
          event.headers.dlq_consumer === service.consumerGroup('models'),
      ),
    );
    expect(dead.headers).toMatchObject({ dlq_error_code: 'object-integrity' });
    expect(dead.headers.dlq_reason).toMatch(/integrity check failed.*expected sha256 f{64}/);
    expect((await versionsOf()).map((v: { version: number }) => v.version)).toEqual([3, 2, 1]);
  });

  it('answers the gRPC ModelRegistry methods', async () => {
    const v3 = await client.getModelVersion(pipelineId, 3);
    expect(v3).toMatchObject({ version: 3, aliases: [WellKnownAlias.CHAMPION], lineage: { seed: 3, runId: 'run-3' } });
    expect(await client.resolveAlias(pipelineId, WellKnownAlias.CHAMPION)).toMatchObject({ version: 3 });
    const list = await client.listModelVersions(pipelineId);
    expect(list.map((v) => v.version)).toEqual([3, 2, 1]);
    const history = await client.listAliasHistory(pipelineId, WellKnownAlias.CHAMPION);
    expect(history).toMatchObject([
      { alias: WellKnownAlias.CHAMPION, sequence: 2, version: 3, previousVersion: 1, changedBy: 'registry' },
      { alias: WellKnownAlias.CHAMPION, sequence: 1, version: 1, previousVersion: 0, changedBy: 'registry' },
    ]);

    await expect(client.getModelVersion('', 1)).rejects.toThrow(RegistryInvalidArgumentError);
    await expect(client.getModelVersion('', 1)).rejects.toThrow(/model_name/);
    await expect(client.getModelVersion(pipelineId, 0)).rejects.toThrow(RegistryInvalidArgumentError);
    await expect(client.getModelVersion(pipelineId, 0)).rejects.toThrow(/version/);
    await expect(client.resolveAlias(pipelineId, 'staging')).rejects.toThrow(RegistryNotFoundError);
    await expect(client.resolveAlias(pipelineId, 'staging')).rejects.toThrow(/not set/);
    expect(await client.findAlias(pipelineId, 'staging')).toBeUndefined();
    await expect(client.listModelVersions(uniqueName('nobody'))).rejects.toThrow(RegistryNotFoundError);
  });

  it('moves any alias over HTTP and gRPC, records every move, and announces a rollback under a new event id', async () => {
    const staging = await http()
      .put(`/api/v1/models/${pipelineId}/aliases/staging`)
      .send({ version: 2, reason: 'trial run' })
      .expect(200);
    expect(staging.body).toMatchObject({ alias: 'staging', version: 2, sequence: 1, changedBy: 'api', moved: true });
    const again = await http().put(`/api/v1/models/${pipelineId}/aliases/staging`).send({ version: 2 }).expect(200);
    expect(again.body).toMatchObject({ alias: 'staging', version: 2, sequence: 1, moved: false });
    expect((await http().get(`/api/v1/models/${pipelineId}/aliases/staging`).expect(200)).body.version).toBe(2);

    // Champion back to v1 (it was there before): a new move, numbered 3, announced under its own id.
    const rollback = await http()
      .put(`/api/v1/models/${pipelineId}/aliases/${WellKnownAlias.CHAMPION}`)
      .send({ version: 1, reason: 'v3 misbehaves', changedBy: 'on-call' })
      .expect(200);
    expect(rollback.body).toMatchObject({ version: 1, previousVersion: 3, sequence: 3, changedBy: 'on-call' });
    const announced = await eventually('alias-changed of the rollback', async () =>
      seen().find((event) => event.id === `alias-changed-${pipelineId}-champion-3`),
    );
    expect(announced.data).toMatchObject({
      alias: WellKnownAlias.CHAMPION,
      version: 1,
      previousVersion: 3,
      reason: 'v3 misbehaves',
    });
    await eventually('the staging move announced', async () =>
      seen().find((event) => event.id === `alias-changed-${pipelineId}-staging-1`),
    );

    const forward = await client.setAlias(pipelineId, WellKnownAlias.CHAMPION, 3, {
      reason: 'fixed',
      changedBy: 'int',
    });
    expect(forward).toMatchObject({ version: 3, previousVersion: 1, sequence: 4, changedBy: 'int' });
    const history = await client.listAliasHistory(pipelineId, WellKnownAlias.CHAMPION);
    expect(history.map((move) => [move.sequence, move.version])).toEqual([
      [4, 3],
      [3, 1],
      [2, 3],
      [1, 1],
    ]);
    const versions = await client.listModelVersions(pipelineId);
    expect(versions.find((v) => v.version === 2)?.aliases).toEqual(['staging']);

    await http().put(`/api/v1/models/${pipelineId}/aliases/Not_An_Alias`).send({ version: 1 }).expect(400);
    await http().put(`/api/v1/models/${pipelineId}/aliases/staging`).send({ version: 'two' }).expect(400);
    await http().put(`/api/v1/models/${pipelineId}/aliases/staging`).send({ version: 99 }).expect(404);
    await expect(client.setAlias(pipelineId, 'Not_An_Alias', 1)).rejects.toThrow(RegistryInvalidArgumentError);
    await expect(client.setAlias(pipelineId, 'staging', 99)).rejects.toThrow(RegistryNotFoundError);
  });
});
