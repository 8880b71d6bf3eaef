import { joinDefinitionSha256 } from '@keel/contracts';
import { memoryOnlineViewTables, type OnlineViewRecord, OnlineViewStore } from '@keel/pipelines';
import { describe, expect, it, vi } from 'vitest';
import { churnSpec, customerTableSpec } from '../test-support/point-in-time';
import { OnlineViewsService, viewBuildNeeded, viewsToBuild } from './online-views.service';

/**
 * The service over records in memory: table "customers" joined by "churn"; a "view" is the names of the table
 * versions it was built from joined by "+" (the worker stub: a previous view's name, then the versions since),
 * stored under that name; publishing fails `failAt` times. `reads` lists every object read (views as "view:<name>").
 */
function harness() {
  const tables = memoryOnlineViewTables();
  const table = customerTableSpec('customers');
  const churn = churnSpec('churn', 'customers');
  const increments: { pipelineId: string; datasetVersionId: string; sequence: number; uri: string; sha256: string }[] =
    [];
  const published: { sequence: number; viewUri: string }[] = [];
  const reads: string[] = [];
  const missing = new Set<string>();
  let unusable = false;
  let failPublish = 0;
  const infra = {
    mongo: tables,
    pipelines: {
      list: async () => [{ spec: table }, { spec: churn }],
      get: async (id: string) => ({ spec: id === 'customers' ? table : churn }),
    },
    objects: {
      getVerified: async ({ uri }: { uri: string }) => {
        if (missing.has(uri)) throw new Error(`${uri} not found`);
        const view = uri.startsWith('s3://views/') ? uri.slice('s3://views/'.length) : undefined;
        reads.push(view === undefined ? uri : `view:${view}`);
        return Buffer.from(view ?? uri);
      },
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
  const between = (pipelineId: string, after: number, upTo: number) =>
    increments
      .filter((i) => i.pipelineId === pipelineId && i.sequence > after && i.sequence <= upTo)
      .sort((a, b) => a.sequence - b.sequence);
  const repository = {
    upTo: async (pipelineId: string, sequence: number) => between(pipelineId, 0, sequence),
    between: async (pipelineId: string, after: number, upTo: number) => between(pipelineId, after, upTo),
    countUpTo: async (pipelineId: string, sequence: number) => between(pipelineId, 0, sequence).length,
  };
  const workers = {
    run: async (_task: unknown, input: { datasets: Buffer[]; previous?: Buffer }) => {
      if (input.previous && unusable) return { previousUnusable: 'not a view of these features' };
      const names = [...(input.previous ? [String(input.previous)] : []), ...input.datasets.map(String)];
      return { bytes: Buffer.from(names.join('+')), entities: names.length };
    },
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
  return {
    service,
    add,
    current,
    published,
    reads,
    missing,
    failAt: (n: number) => (failPublish = n),
    previousUnusable: () => (unusable = true),
  };
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

describe('OnlineViewsService: a view moves on from the recorded one', () => {
  it('given the recorded view of the previous version, then the build reads it and the new version only', async () => {
    const h = harness();
    for (const sequence of [1, 2, 3]) {
      h.add(sequence);
      await h.service.onTableVersion('customers');
    }
    h.reads.length = 0;
    h.add(4);
    await h.service.onTableVersion('customers');
    expect(h.reads).toEqual(['view:v1+v2+v3', 'v4']);
    expect(await h.current()).toMatchObject({ sequence: 4, viewUri: 's3://views/v1+v2+v3+v4', versionCount: 4 });
  });

  it('given a redelivery with no new version, then it announces the recorded view and reads nothing', async () => {
    const h = harness();
    h.add(1);
    await h.service.onTableVersion('customers');
    h.reads.length = 0;
    await h.service.onTableVersion('customers');
    expect(h.reads).toEqual([]);
    expect(h.published.map((event) => event.viewUri)).toEqual(['s3://views/v1', 's3://views/v1']);
  });

  it('given the recorded view unreadable or not a view of the join, then every version is read', async () => {
    const h = harness();
    h.add(1);
    await h.service.onTableVersion('customers');
    h.missing.add('s3://views/v1');
    h.add(2);
    h.reads.length = 0;
    await h.service.onTableVersion('customers');
    expect(h.reads).toEqual(['v1', 'v2']);
    h.previousUnusable();
    h.add(3);
    h.reads.length = 0;
    await h.service.onTableVersion('customers');
    // the worker finds the previous view unusable: then every version is read
    expect(h.reads).toEqual(['view:v1+v2', 'v3', 'v1', 'v2', 'v3']);
    expect(await h.current()).toMatchObject({ sequence: 3, viewUri: 's3://views/v1+v2+v3', versionCount: 3 });
  });

  it('given a recorded view built later than now (a clock ahead), then every version is read', async () => {
    const h = harness();
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(Date.parse('2026-12-04T12:00:00Z'));
      h.add(1);
      await h.service.onTableVersion('customers');
      vi.setSystemTime(Date.parse('2026-12-04T11:59:00Z'));
      h.add(2);
      h.reads.length = 0;
      await h.service.onTableVersion('customers');
      expect(h.reads).toEqual(['v1', 'v2']);
    } finally {
      vi.useRealTimers();
    }
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
