import { joinDefinitionSha256 } from '@keel/contracts';
import { memoryOnlineViewTables, type OnlineViewRecord, OnlineViewStore } from '@keel/pipelines';
import { describe, expect, it } from 'vitest';
import { churnSpec, customerTableSpec } from '../test-support/point-in-time';
import { OnlineViewsService, viewBuildNeeded, viewsToBuild } from './online-views.service';

/**
 * The service over records in memory: table "customers" joined by "churn"; a "view" is the names of the table
 * versions it was built from joined by "+" (the worker stub), stored under that name; publishing fails `failAt` times.
 */
function harness() {
  const tables = memoryOnlineViewTables();
  const table = customerTableSpec('customers');
  const churn = churnSpec('churn', 'customers');
  const increments: { pipelineId: string; datasetVersionId: string; sequence: number; uri: string; sha256: string }[] =
    [];
  const published: { sequence: number; viewUri: string }[] = [];
  let failPublish = 0;
  const infra = {
    mongo: tables,
    pipelines: {
      list: async () => [{ spec: table }, { spec: churn }],
      get: async (id: string) => ({ spec: id === 'customers' ? table : churn }),
    },
    objects: {
      getVerified: async ({ uri }: { uri: string }) => Buffer.from(uri),
      putContentAddressed: async (_bucket: string, _prefix: string, bytes: Buffer) => ({
        uri: `s3://views/${String(bytes)}`,
        sha256: Buffer.from(String(bytes)).toString('hex').padEnd(64, '0').slice(0, 64),
      }),
    },
    publisher: {
      publish: async (_type: unknown, data: { sequence: number; viewUri: string }) => {
        if (failPublish > 0) {
          failPublish--;
          throw new Error('kafka down');
        }
        published.push(data);
      },
    },
  };
  const repository = {
    upTo: async (pipelineId: string, sequence: number) =>
      increments
        .filter((i) => i.pipelineId === pipelineId && i.sequence <= sequence)
        .sort((a, b) => a.sequence - b.sequence),
  };
  const workers = {
    run: async (_task: unknown, input: { datasets: Buffer[] }) => ({
      bytes: Buffer.from(input.datasets.map(String).join('+')),
      entities: input.datasets.length,
    }),
  };
  const logger = { child: () => ({ info() {}, warn() {}, error() {} }) };
  const service = new OnlineViewsService(infra as never, repository as never, workers as never, logger as never);
  const store = new OnlineViewStore(tables);
  const add = (sequence: number) =>
    increments.push({
      pipelineId: 'customers',
      datasetVersionId: `v${sequence}`,
      sequence,
      uri: `v${sequence}`,
      sha256: 'x',
    });
  const current = () => store.current('churn', 'customers', joinDefinitionSha256(churn.joins![0]));
  return { service, add, current, published, failAt: (n: number) => (failPublish = n) };
}

describe('OnlineViewsService', () => {
  it('given a crash between recording a view and announcing it, then the redelivery announces it', async () => {
    const h = harness();
    h.add(1);
    h.failAt(1);
    await expect(h.service.onTableVersion('customers')).rejects.toThrow('kafka down');
    await h.service.onTableVersion('customers'); // the redelivery
    expect((await h.current())?.sequence).toBe(1);
    expect(h.published.map((event) => event.viewUri)).toEqual(['s3://views/v1']);
  });

  it('given a table version validated after a higher-numbered one, then it reaches the view', async () => {
    const h = harness();
    h.add(4);
    await h.service.onTableVersion('customers');
    h.add(6); // v6 validated first
    await h.service.onTableVersion('customers');
    h.add(5); // v5 validated later (versions validate in parallel)
    await h.service.onTableVersion('customers');
    expect(await h.current()).toMatchObject({
      sequence: 6,
      viewUri: 's3://views/v4+v5+v6',
      versionCount: 3,
      builtFeatureTime: 'feature_time', // the table's timeColumn: churnSpec's join names none
    });
    expect(h.published.map((event) => event.viewUri)).toEqual([
      's3://views/v4',
      's3://views/v4+v6',
      's3://views/v4+v5+v6',
    ]);
  });
});

describe('viewBuildNeeded', () => {
  it("builds a missing view of the join's definition, or one short of the cut the pipeline joined, up to the cut", () => {
    expect(viewBuildNeeded(null, 3)).toBe(3);
    expect(viewBuildNeeded({ sequence: 2 }, 3)).toBe(3);
    expect(viewBuildNeeded(null, 0)).toBeUndefined(); // the table has no version yet
  });

  it('keeps a view of the cut or later', () => {
    expect(viewBuildNeeded({ sequence: 3 }, 3)).toBeUndefined();
    expect(viewBuildNeeded({ sequence: 5 }, 3)).toBeUndefined();
  });
});

describe('viewsToBuild', () => {
  const champion = churnSpec('churn', 'customers'); // joins balance and segment
  const challengerJoin = { ...champion.joins![0], features: ['balance'] };
  const challenger = { ...champion, joins: [challengerJoin] };
  const record = (pipelineId: string, join?: OnlineViewRecord['join']): OnlineViewRecord =>
    ({
      pipelineId,
      tablePipelineId: 'customers',
      sequence: 1,
      entities: 1,
      ...(join ? { join, joinSha256: joinDefinitionSha256({ pipeline: 'customers', ...join }) } : {}),
    }) as OnlineViewRecord;

  it("rebuilds the current spec's view and every recorded definition's, each once", () => {
    // the spec now joins only balance (a challenger's); the champion's model still reads balance and segment
    const { maxAgeMs: _unused, pipeline: _table, ...championDefinition } = champion.joins![0];
    const builds = viewsToBuild(
      [challenger],
      [record('churn', championDefinition), record('churn', { entityKey: 'customer_id', features: ['balance'] })],
      'customers',
    );
    expect(builds.map(({ pipelineId, join }) => [pipelineId, joinDefinitionSha256(join)])).toEqual([
      ['churn', joinDefinitionSha256(challengerJoin)],
      ['churn', joinDefinitionSha256(champion.joins![0])],
    ]);
  });

  it('rebuilds a recorded definition without a feature time with the column its view was first built with', () => {
    const legacy = { ...record('churn', { entityKey: 'customer_id', features: ['balance'] }), builtFeatureTime: 'ft' };
    const [build] = viewsToBuild([], [legacy], 'customers');
    expect(build.join).toMatchObject({ builtFeatureTime: 'ft' });
    expect(build.join.featureTime).toBeUndefined();
    // the hash stays the record's: the pinned column is not part of the definition
    expect(joinDefinitionSha256(build.join)).toBe(legacy.joinSha256);
  });

  it('builds a definition recorded without a feature time once with its twin that names it, recorded under both', () => {
    const table = customerTableSpec('customers'); // timeColumn feature_time
    const { maxAgeMs: _unused, pipeline: _table, ...definition } = champion.joins![0];
    const old = record('churn', definition); // hashed without a feature time
    const reapplied = { ...champion, joins: [{ ...champion.joins![0], featureTime: 'feature_time' }] };
    const builds = viewsToBuild([table, reapplied], [old], 'customers');
    expect(builds).toHaveLength(1);
    expect(joinDefinitionSha256(builds[0].join)).toBe(joinDefinitionSha256(reapplied.joins[0]));
    expect(builds[0].join.twins?.map((twin) => joinDefinitionSha256(twin))).toEqual([old.joinSha256]);
    // a twin only when the data is the same: pinned to another column, it is built apart
    const pinned = { ...old, builtFeatureTime: 'created' } as OnlineViewRecord;
    expect(viewsToBuild([table, reapplied], [pinned], 'customers')).toHaveLength(2);
  });

  it('leaves records from before views kept their definition, and other tables', () => {
    expect(viewsToBuild([], [record('churn')], 'customers')).toEqual([]);
    expect(viewsToBuild([champion], [], 'accounts')).toEqual([]);
  });
});
