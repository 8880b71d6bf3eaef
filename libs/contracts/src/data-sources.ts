import { z } from 'zod';

/**
 * Sources a pipeline pulls its data from (`sources` in the pipeline spec), beside the Kafka record events and uploads
 * that are pushed to it. Each pull is a run with persisted state; every source row lands in exactly one dataset
 * version (the source's watermark is committed with the version, never before).
 */

/** A source's name within its pipeline: lower-case, digits and dashes (`orders`, `crm-accounts`). */
export const SourceId = z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, 'lower-case letters, digits and dashes');

/** A PostgreSQL identifier as written unquoted (`updated_at`); quoted when used, so its case is kept. */
const SqlName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_$]{0,62}$/, 'must be a simple SQL identifier');

/** `table` or `schema.table`. */
const TableName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_$]{0,62}(\.[A-Za-z_][A-Za-z0-9_$]{0,62})?$/, 'must be table or schema.table');

const EnvName = z.string().regex(/^[A-Z_][A-Z0-9_]{0,127}$/, 'must be an environment variable name');

export const PostgresSource = z
  .object({
    kind: z.literal('postgres'),
    id: SourceId,
    /**
     * The environment variable of ingestion holding the connection URL (a secret, never in the spec); absent:
     * ingestion's POSTGRES_URL.
     */
    urlEnv: EnvName.optional(),
    /** Read a table ... */
    table: TableName.optional(),
    /** ... or a query (a SELECT; read as a subquery, so it may not end in ORDER BY or LIMIT of its own). */
    query: z.string().min(1).max(20_000).optional(),
    /**
     * Incremental by a cursor column (a timestamp or number that grows when a row is inserted or updated, e.g.
     * updated_at) with a unique key column breaking its ties: a pull reads the rows whose (cursor, key) is past the
     * watermark, in that order, and the watermark moves with each version. An updated row is pulled again.
     */
    cursor: z.object({ column: SqlName, key: SqlName }),
    /** Rows per chunk read through a server-side cursor; each chunk becomes one dataset version (memory bound). */
    chunkRows: z.number().int().positive().max(1_000_000).default(50_000),
    /** Pulled on this schedule (and on demand); absent: on demand only (POST .../sources/:id/pulls). */
    everyMs: z.number().int().min(1_000).optional(),
  })
  .superRefine((source, ctx) => {
    if ((source.table === undefined) === (source.query === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['table'], message: 'declare either a table or a query' });
    }
    if (source.query !== undefined && !/^\s*(select|with)\b/i.test(source.query)) {
      ctx.addIssue({ code: 'custom', path: ['query'], message: 'must be a SELECT (or WITH ... SELECT)' });
    }
  });
export type PostgresSource = z.infer<typeof PostgresSource>;

export const DataSource = z.discriminatedUnion('kind', [PostgresSource]);
export type DataSource = z.infer<typeof DataSource>;

/** Problems of a pipeline's list of sources as a whole (ids are unique). */
export function sourcesIssues(sources: readonly DataSource[]): { path: (string | number)[]; message: string }[] {
  const issues: { path: (string | number)[]; message: string }[] = [];
  sources.forEach((source, i) => {
    if (sources.findIndex((other) => other.id === source.id) !== i) {
      issues.push({ path: [i, 'id'], message: `source "${source.id}" is declared twice` });
    }
  });
  return issues;
}
