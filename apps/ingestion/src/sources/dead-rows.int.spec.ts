import { DataRecordsV1, PipelineSpecV1 } from '@keel/contracts';
import { startServiceUnderTest, type ServiceUnderTest, uniquePipelineId } from '@keel/testing';
import { Client } from 'pg';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestionEnvSchema } from '../config';
import { IngestionModule } from '../ingestion.module';
import { type DeadRowDocument } from './dead-rows.repository';
import { type DeadRowsReplayed } from './dead-rows.service';
import { type SourceRun, SourceStateRepository } from './source-state.repository';
import { crashAfterWrite, rowsByVersion } from './test-support/pulls';

/** The local stack's PostgreSQL (`npm run stack:up`). */
const POSTGRES_URL = 'postgres://keel@127.0.0.1:5432/keel';

interface DeadRowsListed {
  dead: number;
  replayed: number;
  items: DeadRowDocument[];
}

describe('the dead letter of a PostgreSQL source, against the real stack', () => {
  let sut: ServiceUnderTest;
  let db: Client;
  let table: string;

  /** The spec with `tags` (an int4[] column) as a numeric feature (every row holding tags is refused) or not. */
  async function applySpec(id: string, tags: 'numeric' | 'categorical'): Promise<void> {
    await sut.infra.pipelines.apply(
      PipelineSpecV1.parse({
        apiVersion: 'keel/v1',
        kind: 'Pipeline',
        id,
        task: 'regression',
        target: { column: 'y' },
        features: [
          { name: 'x', type: 'numeric' },
          { name: 'tags', type: tags },
        ],
        training: { algorithms: ['linear-regression'], primaryMetric: 'rmse' },
        sources: [{ kind: 'postgres', id: 'rows', table, cursor: { column: 'updated_at', key: 'id' }, chunkRows: 7 }],
      }),
    );
  }

  const api = () => request(sut.app.getHttpServer());
  const path = (pipelineId: string) => `/api/v1/pipelines/${pipelineId}/sources/rows`;
  const listed = async (pipelineId: string, query = '') =>
    (
      await api()
        .get(`${path(pipelineId)}/dead-rows${query}`)
        .expect(200)
    ).body as DeadRowsListed;
  const replay = async (pipelineId: string) =>
    (
      await api()
        .post(`${path(pipelineId)}/dead-rows/replay`)
        .expect(200)
    ).body as DeadRowsReplayed;
  const allRows = async (pipelineId: string) =>
    [...(await rowsByVersion(sut, pipelineId)).values()].flat().sort((a, b) => a - b);
  const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

  beforeAll(async () => {
    db = new Client({ connectionString: POSTGRES_URL });
    await db.connect();
    table = `dead_it_${Date.now()}_${Math.floor(Math.random() * 1e6)}`;
    // Rows 1..30: every third holds tags, the others none; x is the id, so a dataset row names its source row.
    await db.query(
      `CREATE TABLE ${table} (id bigint PRIMARY KEY, updated_at timestamptz NOT NULL, x double precision NOT NULL,
       tags int4[], y double precision NOT NULL)`,
    );
    await db.query(
      `INSERT INTO ${table} SELECT g, timestamptz '2026-01-01 00:00:00+00' + g * interval '1 second', g,
       CASE WHEN g % 3 = 0 THEN ARRAY[g, NULL]::int4[] END, g * 0.5 FROM generate_series(1, 30) g`,
    );
    sut = await startServiceUnderTest({
      service: 'ingestion',
      envSchema: ingestionEnvSchema,
      features: [IngestionModule],
      consumers: { records: [DataRecordsV1] },
      env: { POSTGRES_URL },
    });
  });

  afterAll(async () => {
    await sut?.close();
    await db?.query(`DROP TABLE IF EXISTS ${table}`);
    await db?.end();
  });

  it('keeps every refused row with its reason, once across a crash, and replays it once after the spec is fixed', async () => {
    const pipelineId = uniquePipelineId('pgdead');
    const withTags = range(1, 30).filter((id) => id % 3 === 0);
    await applySpec(pipelineId, 'numeric');

    // given a pull that dies after its second version is durable, before its watermark moves past it
    const restore = crashAfterWrite(sut, 2);
    try {
      const failed = await api().post(`${path(pipelineId)}/pulls`);
      expect(failed.status).not.toBe(200);
    } finally {
      restore();
    }
    // when the next pull finishes it
    const run = (
      await api()
        .post(`${path(pipelineId)}/pulls`)
        .expect(200)
    ).body as SourceRun;

    // then the rows without tags are in versions once, and the ten with tags are in the dead letter once, each
    // with its reason, its (cursor, key) and its fields as PostgreSQL printed them
    expect(run).toMatchObject({ status: 'succeeded', resumed: true, deadLetter: `${path(pipelineId)}/dead-rows` });
    expect(await allRows(pipelineId)).toEqual(range(1, 30).filter((id) => id % 3 !== 0));
    const dead = await listed(pipelineId);
    expect(dead).toMatchObject({ dead: 10, replayed: 0 });
    const byKey = (items: DeadRowDocument[]) => items.map((row) => Number(row.at.key)).sort((a, b) => a - b);
    expect(byKey(dead.items)).toEqual(withTags);
    const three = dead.items.find((row) => row.at.key === '3')!;
    expect(three).toMatchObject({
      reason: 'row 3: tags "{3,NULL}" is not a number',
      at: { cursor: '2026-01-01 00:00:03+00', key: '3' },
    });
    expect(JSON.parse(three.row)).toMatchObject({ id: '3', tags: '{3,NULL}', x: '3' });

    // when replayed before the spec is fixed, nothing is taken: the rows stay dead, with the reason now
    const early = await replay(pipelineId);
    expect(early).toMatchObject({ rowsTried: 10, rowsReplayed: 0, rowsRefused: 10, datasetVersionId: null });
    expect((await listed(pipelineId)).dead).toBe(10);

    // when the spec is fixed and the replay's version write dies once it is durable, then replayed again
    await applySpec(pipelineId, 'categorical');
    const crash = crashAfterWrite(sut, 1);
    try {
      await api()
        .post(`${path(pipelineId)}/dead-rows/replay`)
        .expect(500);
    } finally {
      crash();
    }
    const replayed = await replay(pipelineId);

    // then the interrupted replay is finished from its stored bytes: every dead row in exactly one version
    expect(replayed).toMatchObject({ rowsTried: 0, rowsReplayed: 0 });
    expect(replayed.settledReplayId).toMatch(/^replay-/);
    expect(await allRows(pipelineId)).toEqual(range(1, 30));
    const after = await listed(pipelineId, '?replayed=true');
    expect(after).toMatchObject({ dead: 0, replayed: 10 });
    const versions = new Set(after.items.map((row) => row.replayedInto));
    expect(versions.size).toBe(1);
    const replayedRows = (await rowsByVersion(sut, pipelineId)).get([...versions][0]!)!;
    expect([...replayedRows].sort((a, b) => a - b)).toEqual(withTags);

    // and a second replay, or a pull, adds nothing
    expect(await replay(pipelineId)).toMatchObject({ rowsTried: 0, replayId: null });
    await api()
      .post(`${path(pipelineId)}/pulls`)
      .expect(200);
    expect(await allRows(pipelineId)).toEqual(range(1, 30));
  });

  it('keeps the dead rows of a chunk once when the pull dies after keeping them, before the watermark moves', async () => {
    const pipelineId = uniquePipelineId('pgdead');
    await applySpec(pipelineId, 'numeric');
    // given a pull that dies at its first watermark move: the first chunk's version and dead rows are durable
    const states = sut.app.get(SourceStateRepository);
    const advance = states.advance.bind(states);
    let moves = 0;
    states.advance = async (pipeline, source, basedOn, state) => {
      if (pipeline === pipelineId && state.watermark !== basedOn.state.watermark && ++moves === 1)
        throw new Error('injected crash before the watermark moved');
      return advance(pipeline, source, basedOn, state);
    };
    try {
      const failed = await api().post(`${path(pipelineId)}/pulls`);
      expect(failed.status).not.toBe(200);
    } finally {
      states.advance = advance;
    }
    expect((await listed(pipelineId)).dead).toBe(2);

    // when the next pull reads that chunk again and goes on
    const run = (
      await api()
        .post(`${path(pipelineId)}/pulls`)
        .expect(200)
    ).body as SourceRun;

    // then every refused row is dead once, every other row in a version once
    expect(run).toMatchObject({ status: 'succeeded', rowsDeadLettered: 10 });
    const dead = await listed(pipelineId);
    expect(dead.dead).toBe(10);
    expect(new Set(dead.items.map((row) => row.at.key)).size).toBe(10);
    expect(await allRows(pipelineId)).toEqual(range(1, 30).filter((id) => id % 3 !== 0));
  });
});
