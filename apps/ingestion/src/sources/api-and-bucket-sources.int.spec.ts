import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo } from 'node:net';
import { DataRecordsV1, PipelineSpecV1 } from '@keel/contracts';
import { type ServiceUnderTest, startServiceUnderTest, uniquePipelineId } from '@keel/testing';
import { parquetWriteBuffer } from 'hyparquet-writer';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestionEnvSchema } from '../config';
import { IngestionModule } from '../ingestion.module';
import { crashAfterWrite, rowsByVersion } from './test-support/pulls';
import { type SourceRun } from './source-state.repository';

/** A row of the upstream systems: x is the id, so a dataset row names its source row. */
interface Row {
  id: number;
  updated_at: string;
  x: number;
  color: string;
  y: number;
}

const row = (id: number, updatedAt = `2026-01-01T00:00:${String(Math.floor(id / 10) % 60).padStart(2, '0')}.000Z`) => ({
  id,
  updated_at: updatedAt,
  x: id,
  color: id % 2 ? 'blue' : 'red',
  y: id * 0.5,
});
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const sorted = (values: number[]) => [...values].sort((a, b) => a - b);

/** The API's token, in ingestion's environment under the variable the spec names. */
const TOKEN_ENV = 'KEEL_IT_API_TOKEN';
const TOKEN = 'Bearer it-secret';

/**
 * A paginated JSON API over `rows`: `?updated_since=` (inclusive), `?cursor=` the offset of the page, 40 rows a page
 * in (updated_at, id) order, the next cursor in `meta.next`. `faults` answers chosen requests (by number) with a
 * 429 (Retry-After: 1) or a 500 instead.
 */
class TestApi {
  rows: Row[] = [];
  readonly requests: { at: number; url: string; status: number }[] = [];
  faults = new Map<number, 429 | 500>();
  private server?: Server;

  async start(): Promise<string> {
    this.server = createServer((req, res) => this.answer(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1/rows`;
  }

  async stop(): Promise<void> {
    await new Promise((resolve) => this.server?.close(resolve));
  }

  private answer(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url!, 'http://api');
    const number = this.requests.length + 1;
    const reply = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      this.requests.push({ at: Date.now(), url: url.search, status });
      res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
    };
    if (req.headers.authorization !== TOKEN) return reply(401, { error: 'unauthorized' });
    const fault = this.faults.get(number);
    if (fault === 429) return reply(429, { error: 'rate limited' }, { 'retry-after': '1' });
    if (fault === 500) return reply(500, { error: 'internal' });
    const since = url.searchParams.get('updated_since');
    const matching = this.rows
      .filter((r) => since === null || r.updated_at >= since)
      .sort((a, b) => a.updated_at.localeCompare(b.updated_at) || a.id - b.id);
    const at = Number(url.searchParams.get('cursor') ?? 0);
    const page = matching.slice(at, at + 40);
    reply(200, { data: page, meta: { next: at + 40 < matching.length ? String(at + 40) : null } });
  }
}

describe('HTTP API and object-store sources against the real stack', () => {
  let sut: ServiceUnderTest;
  const api = new TestApi();
  let apiUrl: string;
  const bucket = 'keel-it-drops';

  const baseSpec = (sources: unknown[]) =>
    PipelineSpecV1.parse({
      apiVersion: 'keel/v1',
      kind: 'Pipeline',
      id: uniquePipelineId('pulls'),
      task: 'regression',
      target: { column: 'y' },
      features: [
        { name: 'x', type: 'numeric' },
        { name: 'color', type: 'categorical' },
      ],
      training: { algorithms: ['linear-regression'], primaryMetric: 'rmse' },
      sources,
    });

  async function apply(sources: unknown[]): Promise<PipelineSpecV1> {
    const spec = baseSpec(sources);
    await sut.infra.pipelines.apply(spec);
    return spec;
  }

  const http = () => request(sut.app.getHttpServer());
  const pull = (pipelineId: string, sourceId: string) =>
    http().post(`/api/v1/pipelines/${pipelineId}/sources/${sourceId}/pulls`);

  const versionRows = (pipelineId: string) => rowsByVersion(sut, pipelineId);

  beforeAll(async () => {
    apiUrl = await api.start();
    process.env[TOKEN_ENV] = TOKEN;
    sut = await startServiceUnderTest({
      service: 'ingestion',
      envSchema: ingestionEnvSchema,
      features: [IngestionModule],
      consumers: { records: [DataRecordsV1] },
    });
    await sut.infra.objects.ensureBuckets([bucket]);
  });

  afterAll(async () => {
    await sut?.close();
    await api.stop();
    delete process.env[TOKEN_ENV];
  });

  const apiSource = {
    kind: 'http',
    id: 'crm',
    auth: { valueEnv: TOKEN_ENV },
    recordsPath: 'data',
    pagination: { kind: 'cursor', cursorParam: 'cursor', nextCursorPath: 'meta.next' },
    incremental: { param: 'updated_since', field: 'updated_at', key: 'id' },
    retry: { baseDelayMs: 50, maxDelayMs: 500 },
  };

  it('pulls every page of a paginated API through a 429 and a 500, then only new and updated rows', async () => {
    // given 200 rows in five pages, the second page's first request rate-limited and the fourth's failing
    api.rows = range(1, 200).map((id) => row(id));
    api.requests.length = 0;
    api.faults = new Map([
      [2, 429],
      [5, 500],
    ]);
    const spec = await apply([{ ...apiSource, url: apiUrl }]);

    // when pulled
    const first = (await pull(spec.id, 'crm').expect(200)).body as SourceRun;

    // then every row is in one version, after two retries, the 429's retry no sooner than its Retry-After
    expect(first).toMatchObject({ status: 'succeeded', rowsRead: 200, rowsRejected: 0, requests: 7, retries: 2 });
    expect(api.requests.map((r) => r.status)).toEqual([200, 429, 200, 200, 500, 200, 200]);
    expect(api.requests[2].at - api.requests[1].at).toBeGreaterThanOrEqual(1_000);
    let versions = await versionRows(spec.id);
    expect(first.datasetVersionIds).toHaveLength(1);
    expect(sorted(versions.get(first.datasetVersionIds[0])!)).toEqual(range(1, 200));

    // when 30 rows arrive and row 7 is updated, the next pull sends the watermark and takes exactly those
    api.faults.clear();
    api.requests.length = 0;
    api.rows.push(...range(201, 230).map((id) => row(id, '2026-02-01T00:00:00.000Z')));
    api.rows[6] = { ...row(7, '2026-02-01T00:00:00.000Z'), y: 99 };
    const second = (await pull(spec.id, 'crm').expect(200)).body as SourceRun;
    expect(second).toMatchObject({ status: 'succeeded', rowsRead: 31, retries: 0 });
    expect(api.requests[0].url).toContain('updated_since=2026-01-01T00%3A00%3A20.000Z');
    versions = await versionRows(spec.id);
    expect(sorted(versions.get(second.datasetVersionIds[0])!)).toEqual([7, ...range(201, 230)]);

    // and a third pull finds nothing new (the inclusive updated_since answers the last rows again; they are skipped)
    const third = (await pull(spec.id, 'crm').expect(200)).body as SourceRun;
    expect(third).toMatchObject({ status: 'succeeded', rowsRead: 0, datasetVersionIds: [] });
    expect((await versionRows(spec.id)).size).toBe(2);
  });

  it('gives up on an API that keeps failing, committing nothing, and takes the rows on the next pull', async () => {
    api.rows = range(1, 50).map((id) => row(id));
    api.requests.length = 0;
    api.faults = new Map(range(1, 3).map((n) => [n, 500 as const]));
    const spec = await apply([{ ...apiSource, url: apiUrl, retry: { maxAttempts: 3, baseDelayMs: 10 } }]);
    // the answer is a 502 (the API failed, not ingestion) whose body is the failed run, as the runs list it
    const answered = (await pull(spec.id, 'crm').expect(502)).body as SourceRun;
    const [failed] = (
      (await http().get(`/api/v1/pipelines/${spec.id}/sources/crm/pulls`)).body as { items: SourceRun[] }
    ).items;
    expect(failed).toMatchObject({ status: 'failed', requests: 3, retries: 2 });
    expect(failed.error).toMatch(/answered 500.*gave up after 3 tries/);
    expect(answered).toEqual(failed);
    expect((await versionRows(spec.id)).size).toBe(0);
    const next = (await pull(spec.id, 'crm').expect(200)).body as SourceRun;
    expect(next.rowsRead).toBe(50);
  });

  it("answers 422 with the failed run when the secret the source names is not in ingestion's environment", async () => {
    const spec = await apply([{ ...apiSource, url: apiUrl, auth: { valueEnv: 'KEEL_IT_UNSET_TOKEN' } }]);
    const answered = (await pull(spec.id, 'crm').expect(422)).body as SourceRun;
    expect(answered).toMatchObject({
      status: 'failed',
      error: "source crm reads KEEL_IT_UNSET_TOKEN, which is not set in ingestion's environment",
    });
  });

  it('loses and duplicates nothing when an API pull dies after its version is written', async () => {
    api.rows = range(1, 120).map((id) => row(id));
    api.faults.clear();
    const spec = await apply([{ ...apiSource, url: apiUrl }]);
    const restore = crashAfterWrite(sut, 1);
    try {
      await pull(spec.id, 'crm').expect(500);
    } finally {
      restore();
    }
    const state = (await http().get(`/api/v1/pipelines/${spec.id}/sources/crm`)).body;
    expect(state.planned).toMatchObject({ rowCount: 120 });
    api.rows.push(row(121, '2026-03-01T00:00:00.000Z'));
    // the next pull finishes the planned version from its stored bytes, then takes only row 121
    const rerun = (await pull(spec.id, 'crm').expect(200)).body as SourceRun;
    expect(rerun).toMatchObject({ status: 'succeeded', resumed: true, rowsRead: 1 });
    const rows = await versionRows(spec.id);
    expect(rows.size).toBe(2);
    expect(sorted([...rows.values()].flat())).toEqual(range(1, 121));
  });

  it('cleans rows as the source declares before versioning: drops counted, a failed cast refused, lineage naming it', async () => {
    // given API rows with text x, padded colors and the target as Y; one row of each kind a step drops or refuses,
    // and a later row of id 2 (its x 102) that replaces the first
    const raw = (id: number, fields: Record<string, unknown> = {}) => {
      const { y, ...rest } = row(id);
      return { ...rest, x: String(id), color: ` ${rest.color} `, Y: y, ...fields };
    };
    api.rows = [
      ...range(1, 20).map((id) => raw(id)),
      raw(21, { x: 'n/a' }),
      raw(22, { color: 'test' }),
      raw(23, { Y: null }),
      raw(2, { x: '102', updated_at: '2026-02-01T00:00:00.000Z' }),
    ] as unknown as Row[];
    api.faults.clear();
    const cleaning = {
      rename: { Y: 'y' },
      trim: ['color'],
      cast: { x: 'number' },
      missing: { y: 'drop' },
      filter: "color != 'test'",
      dedupe: { key: ['id'] },
    };
    const { incremental: _, ...snapshot } = apiSource;
    const prefix = `${uniquePipelineId('drop')}/`;
    await sut.infra.objects.put(
      { bucket, key: `${prefix}a.csv` },
      Buffer.from(['x,colour,y', ...range(1, 10).map((id) => `${id},red,${id}`)].join('\n')),
    );
    const spec = await apply([
      { ...snapshot, url: apiUrl, cleaning },
      {
        kind: 'object-store',
        id: 'drops',
        bucket,
        prefix,
        cleaning: { rename: { colour: 'color' }, filter: 'x <= 5' },
      },
    ]);

    // when the API is pulled twice and the bucket once
    const first = (await pull(spec.id, 'crm').expect(200)).body as SourceRun;
    const again = (await pull(spec.id, 'crm').expect(200)).body as SourceRun;
    const files = (await pull(spec.id, 'drops').expect(200)).body as SourceRun;

    // then every row read is kept, dropped by a step or refused, and the later row of id 2 is the one kept
    expect(first).toMatchObject({
      status: 'succeeded',
      rowsRead: 24,
      rowsRejected: 1,
      rejections: ['row 20: cast: x "n/a" is not a number'],
      rowsDropped: { missing: 1, filter: 1, dedupe: 1 },
    });
    const rows = await versionRows(spec.id);
    expect(sorted(rows.get(first.datasetVersionIds[0])!)).toEqual([1, ...range(3, 20), 102]);
    // the same rows cleaned the same way are the same version
    expect(again.datasetVersionIds).toEqual(first.datasetVersionIds);
    expect(files).toMatchObject({ filesTaken: 1, rowsRead: 10, rowsDropped: { missing: 0, filter: 5, dedupe: 0 } });
    expect(sorted(rows.get(files.datasetVersionIds[0])!)).toEqual(range(1, 5));

    // and each version's lineage names its source's cleaning: a digest and the steps
    const lineage = async (id: string) =>
      ((await sut.infra.mongo.collection('datasets').findOne({ datasetVersionId: id }))!.sources as string[])[0];
    expect(await lineage(first.datasetVersionIds[0])).toMatch(
      /^http:crm cleaned [0-9a-f]{12} \[rename, trim, cast, missing, filter, dedupe\]$/,
    );
    expect(await lineage(files.datasetVersionIds[0])).toMatch(
      new RegExp(`^object-store:drops:s3://${bucket}/${prefix}a\\.csv cleaned [0-9a-f]{12} \\[rename, filter\\]$`),
    );
  });

  /** A file of rows in one of the three formats. */
  function file(format: 'csv' | 'jsonl' | 'parquet', ids: number[]): Buffer {
    const rows = ids.map((id) => row(id));
    if (format === 'csv')
      return Buffer.from(['id,x,color,y', ...rows.map((r) => `${r.id},${r.x},${r.color},${r.y}`)].join('\n'));
    if (format === 'jsonl') return Buffer.from(rows.map((r) => JSON.stringify(r)).join('\n'));
    return Buffer.from(
      parquetWriteBuffer({
        columnData: [
          { name: 'x', data: rows.map((r) => r.x), type: 'DOUBLE' },
          { name: 'color', data: rows.map((r) => r.color), type: 'STRING' },
          { name: 'y', data: rows.map((r) => r.y), type: 'DOUBLE' },
        ],
      }),
    );
  }

  it('takes each file dropped under a prefix once, whatever its format, and refuses a bad one with its reason', async () => {
    // given three files of three formats under a prefix, and a file of another kind
    const prefix = `${uniquePipelineId('drop')}/`;
    const put = (name: string, bytes: Buffer) => sut.infra.objects.put({ bucket, key: `${prefix}${name}` }, bytes);
    await put('a.csv', file('csv', range(1, 10)));
    await put('b.jsonl', file('jsonl', range(11, 20)));
    await put('c.parquet', file('parquet', range(21, 30)));
    await put('notes.txt', Buffer.from('not data'));
    const spec = await apply([{ kind: 'object-store', id: 'drops', bucket, prefix }]);

    // when pulled twice
    const first = (await pull(spec.id, 'drops').expect(200)).body as SourceRun;
    const again = (await pull(spec.id, 'drops').expect(200)).body as SourceRun;

    // then each file became one version, once
    expect(first).toMatchObject({ status: 'succeeded', filesTaken: 3, filesRefused: 0, rowsRead: 30 });
    expect(first).toMatchObject({
      filesSkipped: 1,
      skipped: [`${prefix}notes.txt: not a CSV, Parquet or JSON Lines file (.csv, .jsonl, .ndjson, .parquet)`],
    });
    expect(first.datasetVersionIds).toHaveLength(3);
    expect(again).toMatchObject({ status: 'succeeded', filesTaken: 0, rowsRead: 0, datasetVersionIds: [] });
    let rows = await versionRows(spec.id);
    expect([...rows.values()].map(sorted).sort((a, b) => a[0] - b[0])).toEqual([
      range(1, 10),
      range(11, 20),
      range(21, 30),
    ]);

    // when a fourth file and a bad one arrive, the next pull takes the good one and refuses the bad one, once
    await put('d.csv', file('csv', range(31, 35)));
    await put('e.csv', Buffer.from('x,color,y\nforty,red,1\n'));
    // A Windows-1252 export: refused, not stored with U+FFFD in place of its é.
    await put('f.csv', Buffer.from('x,color,y\n1,café,1\n', 'latin1'));
    const third = (await pull(spec.id, 'drops').expect(200)).body as SourceRun;
    expect(third).toMatchObject({ filesTaken: 1, filesRefused: 2, rowsRead: 6, rowsRejected: 1 });
    expect(third.rejections).toEqual([
      `${prefix}e.csv: 1 of 1 rows do not match pipeline ${spec.id}; nothing was ingested`,
      `${prefix}f.csv: malformed CSV: line 2: not UTF-8 text`,
    ]);
    expect((await pull(spec.id, 'drops').expect(200)).body).toMatchObject({ filesTaken: 0, filesRefused: 0 });
    rows = await versionRows(spec.id);
    expect(sorted([...rows.values()].flat())).toEqual(range(1, 35));
  });

  it("takes every file exactly once when a pull dies after a file's version is written", async () => {
    const prefix = `${uniquePipelineId('drop')}/`;
    for (const [i, format] of (['csv', 'jsonl', 'parquet'] as const).entries()) {
      await sut.infra.objects.put(
        { bucket, key: `${prefix}${i}.${format}` },
        file(format, range(i * 10 + 1, i * 10 + 10)),
      );
    }
    const spec = await apply([{ kind: 'object-store', id: 'drops', bucket, prefix }]);
    const restore = crashAfterWrite(sut, 2);
    try {
      await pull(spec.id, 'drops').expect(500);
    } finally {
      restore();
    }
    const rerun = (await pull(spec.id, 'drops').expect(200)).body as SourceRun;
    expect(rerun).toMatchObject({ status: 'succeeded', resumed: true, filesTaken: 1 });
    const rows = await versionRows(spec.id);
    expect(rows.size).toBe(3);
    expect(sorted([...rows.values()].flat())).toEqual(range(1, 30));
  });
});
