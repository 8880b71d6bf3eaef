import { describe, expect, it } from 'vitest';
import { fileFormatOf } from './data-sources';
import { PipelineSpecV1 } from './pipeline-spec';

const base = {
  apiVersion: 'keel/v1',
  kind: 'Pipeline',
  id: 'orders',
  task: 'regression',
  target: { column: 'amount' },
  features: [{ name: 'items', type: 'numeric' }],
  training: { algorithms: ['gbdt'], primaryMetric: 'rmse' },
} as const;

const source = {
  kind: 'postgres',
  id: 'orders-db',
  table: 'public.orders',
  cursor: { column: 'updated_at', key: 'id' },
};

const issues = (sources: object[]) =>
  PipelineSpecV1.safeParse({ ...base, sources }).error?.issues.map(
    (issue) => `${issue.path.join('.')}: ${issue.message}`,
  );

describe('sources in the spec', () => {
  it('has none by default; a postgres source reads 50,000 rows a chunk, on demand unless it has a schedule', () => {
    expect(PipelineSpecV1.parse(base).sources).toEqual([]);
    expect(PipelineSpecV1.parse({ ...base, sources: [source] }).sources).toEqual([{ ...source, chunkRows: 50_000 }]);
  });

  it('takes a query instead of a table, and a variable naming another database', () => {
    const query = {
      ...source,
      table: undefined,
      query: 'SELECT * FROM orders',
      urlEnv: 'ORDERS_DB_URL',
      everyMs: 60_000,
    };
    expect(issues([query])).toBeUndefined();
  });

  it('refuses both or neither of table and query, a query that is not a SELECT, bad names and duplicate ids', () => {
    expect(issues([{ ...source, query: 'SELECT 1' }])).toEqual(['sources.0.table: declare either a table or a query']);
    expect(issues([{ ...source, table: undefined }])).toEqual(['sources.0.table: declare either a table or a query']);
    expect(issues([{ ...source, table: undefined, query: 'DELETE FROM orders' }])).toEqual([
      'sources.0.query: must be a SELECT (or WITH ... SELECT)',
    ]);
    expect(issues([{ ...source, table: 'orders; drop table x' }])).toEqual([
      'sources.0.table: must be table or schema.table',
    ]);
    expect(issues([{ ...source, cursor: { column: 'updated at', key: 'id' } }])).toEqual([
      'sources.0.cursor.column: must be a simple SQL identifier',
    ]);
    expect(issues([source, source])).toEqual(['sources.1.id: source "orders-db" is declared twice']);
  });
});

describe('http and object-store sources in the spec', () => {
  const http = { kind: 'http', id: 'crm', url: 'https://api.example.com/v1/accounts' };

  it('reads one page, every row, up to 100,000 rows, retrying six times unless told otherwise', () => {
    expect(PipelineSpecV1.parse({ ...base, sources: [http] }).sources[0]).toEqual({
      ...http,
      params: {},
      recordsPath: '',
      pagination: { kind: 'none' },
      maxRows: 100_000,
      timeoutMs: 30_000,
      retry: { maxAttempts: 6, baseDelayMs: 500, maxDelayMs: 30_000 },
    });
  });

  it('takes offset, cursor and link pagination, an auth header from a variable and an updated-since parameter', () => {
    const full = {
      ...http,
      auth: { valueEnv: 'CRM_TOKEN' },
      recordsPath: 'data.items',
      pagination: { kind: 'cursor', nextCursorPath: 'meta.next' },
      incremental: { param: 'updated_since', field: 'updated_at', key: 'id' },
    };
    expect(issues([full])).toBeUndefined();
    expect(issues([{ ...http, pagination: { kind: 'offset', pageSize: 50 } }])).toBeUndefined();
    expect(issues([{ ...http, pagination: { kind: 'link' } }])).toBeUndefined();
    const parsed = PipelineSpecV1.parse({ ...base, sources: [full] }).sources[0];
    expect(parsed).toMatchObject({ auth: { header: 'Authorization', valueEnv: 'CRM_TOKEN' } });
  });

  it('refuses a URL that is not http(s), a secret in place of a variable name and an unknown pagination', () => {
    expect(issues([{ ...http, url: 'file:///etc/passwd' }])).toEqual(['sources.0.url: must be an http or https URL']);
    expect(issues([{ ...http, auth: { valueEnv: 'Bearer abc' } }])).toEqual([
      'sources.0.auth.valueEnv: must be an environment variable name',
    ]);
    expect(issues([{ ...http, pagination: { kind: 'pages' } }])?.[0]).toMatch(/^sources\.0\.pagination\.kind/);
  });

  it('reads a bucket prefix 100 files a pull, and refuses a bucket name S3 would refuse', () => {
    const files = { kind: 'object-store', id: 'drops', bucket: 'keel-drops', prefix: 'orders/' };
    expect(PipelineSpecV1.parse({ ...base, sources: [files] }).sources[0]).toEqual({ ...files, maxFilesPerPull: 100 });
    expect(issues([{ ...files, bucket: 'Keel_Drops' }])).toEqual(['sources.0.bucket: must be an S3 bucket name']);
  });

  it('knows a file format by its name', () => {
    expect(['a.csv', 'b.JSONL', 'c.ndjson', 'd.parquet', 'e.json'].map(fileFormatOf)).toEqual([
      'csv',
      'jsonl',
      'jsonl',
      'parquet',
      undefined,
    ]);
  });
});
