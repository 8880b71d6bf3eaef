/**
 * A feature table (`kind: FeatureTable`) on the real stack and all seven services: its uploaded version is validated
 * and becomes the online view of the model pipeline that joins it, which trains, registers a champion and serves with
 * the table's values found by entity key, while the table itself gets no feature set, no training run, no model
 * version and no retrain decision, and a request to train it or a model-only section in its spec is refused.
 */
import { telemetry } from '../demo/telemetry';
import {
  eventually,
  featureTableFixture,
  InferenceClient,
  joiningPipelineFixture,
  stackEndpoints,
  uniqueName,
} from '@keel/testing';
import mongoose from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { endpoints, waitForChampion, waitForServing } from '../demo/pipeline-client';
import { startServices } from '../services/services';

const TRAINING_HTTP = 'http://127.0.0.1:3004';
const CUSTOMERS = 40;
const SEGMENTS = ['basic', 'gold', 'silver'];
const balanceOf = (customer: number) => (customer * 37) % 1000;

describe('a feature table: ingested, validated and joined, with no model of its own', () => {
  const tableId = uniqueName('customers-table');
  const pipelineId = uniqueName('churn-joining');
  let client: InferenceClient;
  let champion: Awaited<ReturnType<typeof waitForChampion>>;

  // customers' balance and segment by customer_id; churn (tenure of its own) joins both.
  const table = featureTableFixture({ id: tableId });
  const churn = joiningPipelineFixture({ id: pipelineId, table });

  const put = (id: string, spec: object) =>
    fetch(`${endpoints.registryHttp}/api/v1/pipelines/${id}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/yaml' },
      body: JSON.stringify(spec),
    });
  const upload = async (id: string, csv: string) => {
    const response = await fetch(`${endpoints.ingestionHttp}/api/v1/pipelines/${id}/datasets`, {
      method: 'POST',
      headers: { 'content-type': 'text/csv' },
      body: csv,
    });
    expect(response.status, await response.clone().text()).toBeLessThan(300);
  };
  const validatedVersions = async (id: string) => {
    const response = await fetch(`${endpoints.validationHttp}/api/v1/pipelines/${id}/reports`);
    if (!response.ok) return 0;
    const body = (await response.json()) as { items: { passed: boolean }[] };
    return body.items.filter((report) => report.passed).length;
  };

  beforeAll(async () => {
    await startServices();
    client = new InferenceClient(endpoints.servingGrpc);
    expect((await put(tableId, table)).status).toBe(200);
    expect((await put(pipelineId, churn)).status).toBe(200);
    // The table first: a window of the joining pipeline is refused while its table has no validated version.
    const tableCsv = [
      'customer_id,feature_time,balance,segment',
      ...Array.from(
        { length: CUSTOMERS },
        (_, c) => `c${c},2026-01-01T${String(c % 24).padStart(2, '0')}:00:00Z,${balanceOf(c)},${SEGMENTS[c % 3]}`,
      ),
    ].join('\n');
    await upload(tableId, tableCsv);
    await eventually(
      'the table version validated',
      async () => ((await validatedVersions(tableId)) ? true : undefined),
      {
        timeoutMs: 120_000,
        intervalMs: 1_000,
      },
    );
    // Churn is likelier with a low balance, which only the table knows: the rows carry the key, not the balance.
    const rows = Array.from({ length: 240 }, (_, i) => {
      const customer = i % CUSTOMERS;
      const churned = balanceOf(customer) < 400 ? 'yes' : 'no';
      return `c${customer},2026-02-0${1 + (i % 9)}T12:00:00Z,${i % 24},${churned}`;
    });
    await upload(pipelineId, ['customer_id,event_time,tenure,churned', ...rows].join('\n'));
    champion = await waitForChampion(pipelineId, 300_000);
    await waitForServing(client, pipelineId, 120_000, champion.version);
  });

  afterAll(async () => {
    client?.close();
    await telemetry.shutdown();
  });

  it('serves the joining model with the table values found by the entity key', async () => {
    const infer = (inputs: object[]) => client.modelInfer({ modelName: pipelineId, inputs } as never);
    const keyed = (customers: number[]) => [
      {
        name: 'tenure',
        datatype: 'FP64',
        shape: [customers.length],
        contents: { fp64Contents: customers.map(() => 5) },
      },
      {
        name: 'customer_id',
        datatype: 'BYTES',
        shape: [customers.length],
        contents: { bytesContents: customers.map((c) => Buffer.from(`c${c}`)) },
      },
    ];
    const given = (customers: number[]) => [
      keyed(customers)[0],
      {
        name: 'balance',
        datatype: 'FP64',
        shape: [customers.length],
        contents: { fp64Contents: customers.map(balanceOf) },
      },
      {
        name: 'segment',
        datatype: 'BYTES',
        shape: [customers.length],
        contents: { bytesContents: customers.map((c) => Buffer.from(SEGMENTS[c % 3])) },
      },
    ];
    const customers = [0, 1, 2, 11, 27];
    // The view loads on the first call that needs it: UNAVAILABLE until then.
    const byKey = await eventually(
      'the online view loaded',
      async () => (await infer(keyed(customers))).outputs[0].contents!.fp64Contents!,
      { timeoutMs: 60_000, intervalMs: 1_000 },
    );
    const byValues = (await infer(given(customers))).outputs[0].contents!.fp64Contents!;
    expect(byKey).toHaveLength(customers.length);
    byKey.forEach((p, i) => expect(p).toBeCloseTo(byValues[i], 12));
    // The model learned from the joined balance: a low balance churns more.
    expect(byKey[customers.indexOf(2)]).toBeGreaterThan(byKey[customers.indexOf(27)]); // balance 74 and 999
  });

  it('keeps no feature set, training run, model version or retrain decision for the table', async () => {
    const runs = (await (await fetch(`${TRAINING_HTTP}/api/v1/pipelines/${tableId}/runs`)).json()) as {
      runs: unknown[];
    };
    expect(runs.runs).toEqual([]);
    const models = await fetch(`${endpoints.registryHttp}/api/v1/models/${tableId}/versions`);
    expect(models.status).toBe(404);
    const policy = await fetch(`${endpoints.monitoringHttp}/api/v1/pipelines/${tableId}/retrain-policy`);
    expect(policy.status).toBe(404);
    expect(await policy.text()).toContain('is a feature table');
    const decisions = await fetch(`${endpoints.monitoringHttp}/api/v1/pipelines/${tableId}/retrain-decisions`);
    expect(((await decisions.json()) as { decisions: unknown[] }).decisions).toEqual([]);
    const mongo = await mongoose.createConnection(stackEndpoints.mongoUrl).asPromise();
    try {
      const featureSets = mongo.collection('feature_sets');
      expect(await featureSets.countDocuments({ pipelineId: tableId })).toBe(0);
      expect(await featureSets.countDocuments({ pipelineId })).toBeGreaterThan(0);
    } finally {
      await mongo.close();
    }
    // The joining pipeline's run read the table's version.
    const lineage = JSON.stringify(champion.lineage);
    expect(lineage).toContain(tableId);
  });

  it('refuses a training request for the table and a model-only section in its spec, naming them', async () => {
    const request = await fetch(`${TRAINING_HTTP}/api/v1/pipelines/${tableId}/training-requests`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(request.status).toBe(400);
    expect(await request.text()).toContain('is a feature table');
    const refused = await put(tableId, { ...table, training: { algorithms: ['gbdt'], primaryMetric: 'rmse' } });
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { issues: string[] }).issues).toEqual([
      'training: a FeatureTable has no model: "training" belongs to kind Pipeline',
    ]);
    const turned = await put(tableId, { ...churn, id: tableId, joins: undefined });
    expect(turned.status).toBe(400);
    expect(await turned.text()).toContain('is a FeatureTable');
  });
});
