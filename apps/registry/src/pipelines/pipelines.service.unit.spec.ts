import { type PipelineSpec, type PipelineSpecInput, PipelineSpecV1 } from '@keel/contracts';
import { InvalidPipelineSpecError, UnknownPipelineError } from '@keel/pipelines';
import { type Infrastructure } from '@keel/service-runtime';
import { featureTableFixture, joiningPipelineFixture } from '@keel/testing';
import { type WorkerPool, type WorkerTask } from '@keel/workers';
import { describe, expect, it, vi } from 'vitest';
import { stringify } from 'yaml';
import { PipelinesService } from './pipelines.service';

const table = (entityColumns?: string[], timeColumn = 'feature_time') =>
  PipelineSpecV1.parse({
    apiVersion: 'keel/v1',
    kind: 'Pipeline',
    id: 'customer-features',
    task: 'regression',
    target: { column: 'balance_next' },
    timeColumn,
    ...(entityColumns ? { entityColumns } : {}),
    features: [
      { name: 'balance', type: 'numeric' },
      { name: 'segment', type: 'categorical' },
    ],
    training: { algorithms: ['linear-regression'], primaryMetric: 'rmse' },
  } as PipelineSpecInput);

/** The same table as its own kind: no task, no target, no training. */
const featureTable = (overrides: Omit<Parameters<typeof featureTableFixture>[0], 'id'> = {}) =>
  featureTableFixture({ id: 'customer-features', ...overrides });

const churn = joiningPipelineFixture({ id: 'churn', table: featureTable(), joined: ['balance'] });

describe('PipelinesService.apply', () => {
  const serviceWith = (joining = churn, applied: PipelineSpec = table(['customer_id'])) => {
    const apply = vi.fn(async (spec: PipelineSpec) => ({
      stored: { pipelineId: spec.id, version: 2 },
      created: true,
    }));
    const infra = {
      pipelines: {
        apply,
        get: async (id: string) => ({ spec: id === 'churn' ? joining : applied }),
        list: async () => [{ spec: applied }, { spec: joining }],
      },
    } as unknown as Infrastructure;
    return { service: new PipelinesService(infra, {} as WorkerPool), apply };
  };

  it('refuses re-applying a table without what a joining pipeline needs, naming that pipeline, and stores nothing', async () => {
    const { service, apply } = serviceWith();
    const refused = await service.apply('customer-features', table()).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(InvalidPipelineSpecError);
    expect((refused as InvalidPipelineSpecError).issues.join('\n')).toMatch(
      /^pipeline "churn" joins this one: joins\.0\.entityKey: "customer-features" does not declare "customer_id"/,
    );
    expect(apply).not.toHaveBeenCalled();
  });

  it('applies a table that still serves its joins', async () => {
    const { service, apply } = serviceWith();
    await expect(service.apply('customer-features', table(['customer_id']))).resolves.toMatchObject({ version: 2 });
    expect(apply).toHaveBeenCalledTimes(1);
  });

  it("records the table's timeColumn as the feature time of a join that names none", async () => {
    const { service, apply } = serviceWith();
    await service.apply('churn', churn);
    expect((apply.mock.calls[0][0] as PipelineSpecV1).joins![0]).toMatchObject({ featureTime: 'feature_time' });
  });

  it("refuses moving a table's timeColumn under a join, recorded with a feature time or not, saying what to do", async () => {
    const recorded = { ...churn, joins: [{ ...churn.joins![0], featureTime: 'feature_time' }] } as PipelineSpecV1;
    for (const joining of [churn, recorded]) {
      const { service, apply } = serviceWith(joining);
      const refused = await service
        .apply('customer-features', table(['customer_id'], 'updated_at'))
        .catch((error: unknown) => error);
      expect((refused as InvalidPipelineSpecError).issues).toEqual([
        'pipeline "churn" joins this one: joins.0.featureTime: reads timeColumn "feature_time" as its feature time, ' +
          'so the table cannot move its timeColumn to "updated_at": remove that join (or point it at another table) first',
      ]);
      expect(apply).not.toHaveBeenCalled();
    }
  });

  it('stores the same JSON when a stored spec is read back and applied again (no new version)', async () => {
    const { service, apply } = serviceWith();
    await service.apply('churn', churn);
    const stored = JSON.stringify(apply.mock.calls[0][0]);
    await service.apply('churn', PipelineSpecV1.parse(JSON.parse(stored)));
    expect(JSON.stringify(apply.mock.calls[1][0])).toBe(stored);
  });

  it('applies a feature table a pipeline joins, and checks the join against it', async () => {
    const { service, apply } = serviceWith(churn, featureTable());
    await expect(service.apply('customer-features', featureTable())).resolves.toMatchObject({ version: 2 });
    await expect(service.apply('churn', churn)).resolves.toMatchObject({ version: 2 });
    expect(apply).toHaveBeenCalledTimes(2);
    const refused = await service
      .apply('customer-features', featureTable({ features: [{ name: 'segment', type: 'categorical' }] }))
      .catch((error: unknown) => error);
    expect((refused as InvalidPipelineSpecError).issues).toEqual([
      'pipeline "churn" joins this one: joins.0.features.0: "customer-features" has no column "balance"',
    ]);
  });

  it('refuses turning a model pipeline into a feature table of the same id (and back), storing nothing', async () => {
    const { service, apply } = serviceWith(churn, table(['customer_id']));
    const refused = await service.apply('customer-features', featureTable()).catch((error: unknown) => error);
    expect((refused as InvalidPipelineSpecError).issues).toEqual([
      'kind: pipeline "customer-features" is a Pipeline; a FeatureTable of the same id is refused (apply it under a new id)',
    ]);
    const back = serviceWith(churn, featureTable());
    await expect(back.service.apply('customer-features', table(['customer_id']))).rejects.toThrow(
      /is a FeatureTable; a Pipeline of the same id is refused/,
    );
    expect(apply).not.toHaveBeenCalled();
    expect(back.apply).not.toHaveBeenCalled();
  });
});

describe('PipelinesService: a column named __proto__', () => {
  /** A feature named __proto__: a JSON body keeps it as JSON.parse does (it is a key of the parsed feature). */
  const named = (spec: object) => JSON.parse(JSON.stringify(spec).replace('"tenure"', '"__proto__"')) as object;
  /** As an earlier build stored it: the schema alone (which accepts the name) read it. */
  const storedEarlier = PipelineSpecV1.parse(named(churn));

  const serviceWith = (stored: PipelineSpec[]) => {
    const apply = vi.fn(async (spec: PipelineSpec) => ({ stored: { pipelineId: spec.id, version: 1 }, created: true }));
    const byId = new Map(stored.map((spec) => [spec.id, { pipelineId: spec.id, version: 1, spec }]));
    const infra = {
      pipelines: {
        apply,
        get: async (id: PipelineSpec['id']) => {
          const found = byId.get(id);
          if (!found) throw new UnknownPipelineError(id);
          return found;
        },
        list: async () => [...byId.values()],
      },
    } as unknown as Infrastructure;
    // Text is parsed by the worker task; here on this thread, as the pool would run it.
    const workers = {
      run: async (task: WorkerTask<string, unknown>, text: string) => task.run(text, { progress: () => undefined }),
    };
    return { service: new PipelinesService(infra, workers as unknown as WorkerPool), apply };
  };

  it('refuses applying it, as JSON or YAML, naming each path, and stores nothing', async () => {
    const { service, apply } = serviceWith([]);
    const spec = named({ ...churn, joins: undefined });
    const expected = /^features\.0\.name: "__proto__" cannot name a column: a JavaScript object takes "__proto__"/;
    for (const body of [spec, stringify(spec)]) {
      const refused = await service.apply('churn', body).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(InvalidPipelineSpecError);
      expect((refused as InvalidPipelineSpecError).issues).toHaveLength(1);
      expect((refused as InvalidPipelineSpecError).issues[0]).toMatch(expected);
    }
    expect(apply).not.toHaveBeenCalled();
  });

  it('still lists and reads a spec an earlier build stored with one, and applies other specs beside it', async () => {
    const { service, apply } = serviceWith([storedEarlier, featureTable()]);
    expect((await service.list()).map(({ spec }) => spec.features[0].name)).toEqual(['__proto__', 'balance']);
    expect((await service.get('churn'))?.spec).toBe(storedEarlier);
    // Applying the table lists every pipeline (the joins of churn are checked against it): the stored one reads.
    await expect(service.apply('customer-features', featureTable())).resolves.toMatchObject({ version: 1 });
    expect(apply).toHaveBeenCalledTimes(1);
  });
});
