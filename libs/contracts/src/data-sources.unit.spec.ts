import { describe, expect, it } from 'vitest';
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
