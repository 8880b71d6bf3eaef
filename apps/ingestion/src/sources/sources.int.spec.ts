import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { DataRecordsV1, PipelineSpecV1 } from '@keel/contracts';
import {
  eventually,
  mongoUrlForDatabase,
  repoRoot,
  type ServiceUnderTest,
  stackEndpoints,
  stackKafka,
  startGroupAtTopicEnd,
  startServiceUnderTest,
  uniqueName,
  uniquePipelineId,
} from '@keel/testing';
import { Client } from 'pg';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestionEnvSchema } from '../config';
import { IngestionModule } from '../ingestion.module';
import { RECORDS_GROUP } from '../records/records-group';
import { crashAfterWrite, rowsByVersion as versionRows } from './test-support/pulls';
import { type SourceRun } from './source-state.repository';

/** The local stack's PostgreSQL (`npm run stack:up`). */
const POSTGRES_URL = 'postgres://keel@127.0.0.1:5432/keel';

describe('postgres sources against the real PostgreSQL', () => {
  let sut: ServiceUnderTest;
  let db: Client;
  const tables: string[] = [];

  /** A table of rows (id, updated_at, x, color, y): x is the id, so a dataset row names its source row. */
  async function createTable(): Promise<string> {
    const table = `src_it_${Date.now()}_${Math.floor(Math.random() * 1e6)}`;
    tables.push(table);
    await db.query(
      `CREATE TABLE ${table} (id bigint PRIMARY KEY, updated_at timestamptz NOT NULL, x double precision NOT NULL,
       color text NOT NULL, y double precision NOT NULL)`,
    );
    return table;
  }

  /** Inserts ids from..to; ten rows share each updated_at, so chunks end inside ties. */
  async function insertRows(table: string, from: number, to: number): Promise<void> {
    await db.query(
      `INSERT INTO ${table} SELECT g, timestamptz '2026-01-01 00:00:00.123456+00' + (g / 10) * interval '1 second',
       g, CASE WHEN g % 2 = 0 THEN 'red' ELSE 'blue' END, g * 0.5 FROM generate_series($1::bigint, $2::bigint) g`,
      [from, to],
    );
  }

  async function applySpec(table: string, chunkRows: number, cleaning?: object): Promise<PipelineSpecV1> {
    const spec = PipelineSpecV1.parse({
      apiVersion: 'keel/v1',
      kind: 'Pipeline',
      id: uniquePipelineId('pgsrc'),
      task: 'regression',
      target: { column: 'y' },
      features: [
        { name: 'x', type: 'numeric' },
        { name: 'color', type: 'categorical' },
      ],
      training: { algorithms: ['linear-regression'], primaryMetric: 'rmse' },
      sources: [
        { kind: 'postgres', id: 'rows', table, cursor: { column: 'updated_at', key: 'id' }, chunkRows, cleaning },
      ],
    });
    await sut.infra.pipelines.apply(spec);
    return spec;
  }

  const pull = (pipelineId: string) =>
    request(sut.app.getHttpServer()).post(`/api/v1/pipelines/${pipelineId}/sources/rows/pulls`);

  const rowsByVersion = (pipelineId: string) => versionRows(sut, pipelineId);

  const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
  const sorted = (values: number[]) => [...values].sort((a, b) => a - b);

  beforeAll(async () => {
    db = new Client({ connectionString: POSTGRES_URL });
    await db.connect();
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
    for (const table of tables) await db?.query(`DROP TABLE IF EXISTS ${table}`);
    await db?.end();
  });

  it('pulls only new and updated rows, each into exactly one version, and a repeated pull adds nothing', async () => {
    // given 250 rows, read 100 at a time
    const table = await createTable();
    await insertRows(table, 1, 250);
    const spec = await applySpec(table, 100);

    // when pulled: three chunks, three versions, every row once
    const first = (await pull(spec.id).expect(200)).body as SourceRun;
    expect(first).toMatchObject({ status: 'succeeded', rowsRead: 250, rowsRejected: 0, resumed: false });
    expect(first.datasetVersionIds).toHaveLength(3);
    let versions = await rowsByVersion(spec.id);
    expect(sorted([...versions.values()].flat())).toEqual(range(1, 250));

    // when 150 more rows arrive and row 5 is updated, the next pull takes exactly those
    await insertRows(table, 251, 400);
    await db.query(`UPDATE ${table} SET updated_at = timestamptz '2027-01-01 00:00:00+00', y = 99 WHERE id = 5`);
    const second = (await pull(spec.id).expect(200)).body as SourceRun;
    expect(second).toMatchObject({ status: 'succeeded', rowsRead: 151 });
    versions = await rowsByVersion(spec.id);
    const secondRows = second.datasetVersionIds.flatMap((id) => versions.get(id)!);
    expect(sorted(secondRows)).toEqual([5, ...range(251, 400)]);
    expect(sorted([...versions.values()].flat())).toEqual(sorted([...range(1, 400), 5]));

    // and a third pull finds nothing new
    const third = (await pull(spec.id).expect(200)).body as SourceRun;
    expect(third).toMatchObject({ status: 'succeeded', rowsRead: 0, datasetVersionIds: [] });
    expect((await rowsByVersion(spec.id)).size).toBe(versions.size);
    const runs = (await request(sut.app.getHttpServer()).get(`/api/v1/pipelines/${spec.id}/sources/rows/pulls`))
      .body as { items: SourceRun[] };
    expect(runs.items.map((run) => run.rowsRead)).toEqual([0, 151, 250]);
  });

  it('loses and duplicates nothing when a pull dies after a version is written but before its watermark moves', async () => {
    // given 500 rows, 50 a chunk, and a pull whose third version write crashes once the version is durable
    const table = await createTable();
    await insertRows(table, 1, 500);
    const spec = await applySpec(table, 50);
    const restore = crashAfterWrite(sut, 3);
    try {
      // when the pull fails there
      await pull(spec.id).expect(500);
    } finally {
      restore();
    }
    const state = (await request(sut.app.getHttpServer()).get(`/api/v1/pipelines/${spec.id}/sources/rows`)).body;
    expect(state.planned).not.toBeNull();
    expect(state.rowsPulled).toBe(100);

    // then the next pull finishes the planned chunk (the same version) and the rest
    const rerun = (await pull(spec.id).expect(200)).body as SourceRun;
    expect(rerun).toMatchObject({ status: 'succeeded', resumed: true, rowsRead: 400 });
    const rows = await rowsByVersion(spec.id);
    expect(rows.size).toBe(10);
    expect(sorted([...rows.values()].flat())).toEqual(range(1, 500));
  });

  it('cleans each chunk as the source declares, deterministically: a retried chunk is the same version', async () => {
    // given 30 rows, 10 a chunk, a cleaning keeping x > 5 and the last row of each color per chunk, and a pull whose
    // second version write crashes once the version is durable
    const table = await createTable();
    await insertRows(table, 1, 30);
    const spec = await applySpec(table, 10, { filter: 'x > 5', dedupe: { key: ['color'] } });
    const restore = crashAfterWrite(sut, 2);
    try {
      await pull(spec.id).expect(500);
    } finally {
      restore();
    }

    // when pulled again: the planned chunk is read and cleaned again, then the last one
    const rerun = (await pull(spec.id).expect(200)).body as SourceRun;

    // then each chunk's kept rows are in exactly one version (the first chunk lost rows 1-5 to the filter), the rerun's
    // drops counted, the lineage naming the cleaning
    expect(rerun).toMatchObject({
      status: 'succeeded',
      resumed: true,
      rowsRead: 20,
      rowsRejected: 0,
      rowsDropped: { missing: 0, filter: 0, dedupe: 16 },
    });
    const rows = await rowsByVersion(spec.id);
    expect([...rows.values()].map(sorted).sort((a, b) => a[0] - b[0])).toEqual([
      [9, 10],
      [19, 20],
      [29, 30],
    ]);
    const sources = await sut.infra.mongo
      .collection('datasets')
      .find({ pipelineId: spec.id })
      .map((version) => (version.sources as string[])[0])
      .toArray();
    expect(sources).toHaveLength(3);
    for (const lineage of sources)
      expect(lineage).toMatch(/^postgres:rows@\(.*\] cleaned [0-9a-f]{12} \[filter, dedupe\]$/);
  });

  it('loses and duplicates nothing when its PostgreSQL connection is killed mid-pull', async () => {
    const TOTAL = 400_000;
    // given 400,000 rows (about 36 MB of COPY text) read 20,000 at a time: COPY streams ahead of the writes, so the
    // table must be larger than the sockets buffer for the server to be still sending when the kill comes
    const table = await createTable();
    await insertRows(table, 1, TOTAL);
    const spec = await applySpec(table, 20_000);
    const http = request(sut.app.getHttpServer());

    // when the server terminates the pull's connection once some chunks are committed
    const pulling = pull(spec.id).then((response) => response.status);
    await eventually('a committed chunk', async () => {
      const state = (await http.get(`/api/v1/pipelines/${spec.id}/sources/rows`)).body as { rowsPulled: number };
      return state.rowsPulled > 0 ? true : undefined;
    });
    const killed = await db.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'keel-ingestion-source'`,
    );
    expect(killed.rowCount).toBeGreaterThan(0);
    // the source failed, not ingestion (a 502 whose body is the failed run)
    expect(await pulling).toBe(502);
    const failed = ((await http.get(`/api/v1/pipelines/${spec.id}/sources/rows/pulls`)).body as { items: SourceRun[] })
      .items[0];
    expect(failed.status).toBe('failed');
    expect(failed.rowsRead).toBeLessThan(TOTAL);

    // then a second pull takes the rest: every row exactly once
    const rerun = (await pull(spec.id).expect(200)).body as SourceRun;
    expect(rerun.status).toBe('succeeded');
    expect(failed.rowsRead + rerun.rowsRead).toBe(TOTAL);
    const rows = await rowsByVersion(spec.id);
    expect(sorted([...rows.values()].flat())).toEqual(range(1, TOTAL));
  }, 120_000);

  /** A port nobody listens on now. */
  async function freePort(): Promise<number> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    await new Promise((resolve) => server.close(resolve));
    return port;
  }

  /** Ingestion in a process of its own, on the test's database, answering on `port` once it is up. */
  async function startChild(port: number): Promise<ChildProcess> {
    // Its records group starts at the topic's end, as the harness's do: it has no business with the topic's history.
    const name = uniqueName('ingestion-kill');
    const admin = stackKafka(`${name}-setup`).admin();
    await admin.connect();
    try {
      await startGroupAtTopicEnd(admin, `${name}.${RECORDS_GROUP}`, [DataRecordsV1.topic]);
    } finally {
      await admin.disconnect();
    }
    const child = spawn(
      process.execPath,
      ['-r', '@swc-node/register', join(__dirname, 'test-support', 'ingestion-child.ts')],
      {
        cwd: repoRoot,
        stdio: 'ignore',
        env: {
          ...process.env,
          CHILD_SERVICE_NAME: uniqueName('ingestion-kill'),
          KAFKA_BROKERS: stackEndpoints.kafkaBrokers.join(','),
          MONGO_URL: mongoUrlForDatabase('keel_it_ingestion'),
          S3_ENDPOINT: stackEndpoints.s3.endpoint,
          S3_ACCESS_KEY: stackEndpoints.s3.accessKey,
          S3_SECRET_KEY: stackEndpoints.s3.secretKey,
          S3_REGION: stackEndpoints.s3.region,
          HTTP_PORT: String(port),
          POSTGRES_URL,
          LOG_LEVEL: 'silent',
        },
      },
    );
    await eventually(
      'the child ingestion is up',
      async () => ((await fetch(`http://127.0.0.1:${port}/health/live`).catch(() => undefined))?.ok ? true : undefined),
      { timeoutMs: 120_000 },
    );
    return child;
  }

  it('loses and duplicates nothing when ingestion is killed with SIGKILL mid-pull and the pull runs again', async () => {
    // given 60,000 rows read 1,000 at a time, pulled by an ingestion process of its own
    const table = await createTable();
    await insertRows(table, 1, 60_000);
    const spec = await applySpec(table, 1_000);
    const port = await freePort();
    const child = await startChild(port);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      void fetch(`http://127.0.0.1:${port}/api/v1/pipelines/${spec.id}/sources/rows/pulls`, { method: 'POST' }).catch(
        () => undefined,
      );
      // when it is killed once some chunks are committed
      await eventually(
        'a committed chunk',
        async () => {
          const state = (await request(sut.app.getHttpServer()).get(`/api/v1/pipelines/${spec.id}/sources/rows`))
            .body as { rowsPulled: number };
          return state.rowsPulled > 0 ? state : undefined;
        },
        { timeoutMs: 60_000 },
      );
      child.kill('SIGKILL');
      await exited;
    } finally {
      child.kill('SIGKILL');
    }
    const before = (await request(sut.app.getHttpServer()).get(`/api/v1/pipelines/${spec.id}/sources/rows`)).body as {
      rowsPulled: number;
    };
    expect(before.rowsPulled).toBeLessThan(60_000);

    // then a pull after its lease runs out (30 s) takes the rest: every row exactly once
    const rerun = await eventually(
      "the dead pull's lease to run out",
      async () => {
        const response = await pull(spec.id);
        return response.status === 409 ? undefined : response;
      },
      { timeoutMs: 60_000 },
    );
    expect(rerun.status).toBe(200);
    expect((rerun.body as SourceRun).status).toBe('succeeded');
    const runs = (
      (await request(sut.app.getHttpServer()).get(`/api/v1/pipelines/${spec.id}/sources/rows/pulls`)).body as {
        items: SourceRun[];
      }
    ).items;
    expect(runs.map((run) => run.status)).toEqual(['succeeded', 'abandoned']);
    const rows = await rowsByVersion(spec.id);
    expect(sorted([...rows.values()].flat())).toEqual(range(1, 60_000));
  }, 240_000);

  /** A process's resident set now and at its peak (VmRSS, VmHWM), in MiB. */
  function residentMiB(pid: number): { now: number; peak: number } {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { now: kib('VmRSS') / 1024, peak: kib('VmHWM') / 1024 };
  }

  it('pulls a table of 1,000,000 rows in chunks, every row once, with ingestion memory bounded', async () => {
    const TOTAL = 1_000_000;
    // given 1,000,000 rows read 50,000 at a time by an ingestion process of its own, its RSS sampled from outside
    const table = await createTable();
    await insertRows(table, 1, TOTAL);
    const spec = await applySpec(table, 50_000);
    const port = await freePort();
    const child = await startChild(port);
    const pid = child.pid!;
    try {
      const atRest = residentMiB(pid).now;
      const samples: number[] = [];
      const sampler = setInterval(() => samples.push(residentMiB(pid).now), 50);
      // when it pulls the table
      const response = await fetch(`http://127.0.0.1:${port}/api/v1/pipelines/${spec.id}/sources/rows/pulls`, {
        method: 'POST',
      });
      clearInterval(sampler);
      const run = (await response.json()) as SourceRun;
      const { peak } = residentMiB(pid);
      const pullPeak = Math.max(atRest, ...samples);
      const half = Math.floor(samples.length / 2);
      const firstHalf = Math.max(atRest, ...samples.slice(0, half));
      const secondHalf = Math.max(atRest, ...samples.slice(half));
      console.log(
        `1,000,000-row pull: ingestion RSS at rest ${atRest.toFixed(0)} MiB, peak during the pull ` +
          `${pullPeak.toFixed(0)} MiB (first half ${firstHalf.toFixed(0)}, second half ${secondHalf.toFixed(0)}), ` +
          `process peak (VmHWM) ${peak.toFixed(0)} MiB`,
      );
      // then every row is in exactly one of 20 versions
      expect(run).toMatchObject({ status: 'succeeded', rowsRead: TOTAL, rowsRejected: 0 });
      expect(run.datasetVersionIds).toHaveLength(20);
      const ids = [...(await rowsByVersion(spec.id)).values()].flat();
      expect(ids).toHaveLength(TOTAL);
      expect(new Set(ids).size).toBe(TOTAL);
      // and memory stayed within a fixed budget, whatever the table's size (about 700 MiB on 2026-12-03): it holds a
      // few chunks at a time, never the table
      expect(peak).toBeLessThan(1_200);
    } finally {
      child.kill('SIGKILL');
    }
  }, 300_000);
});
