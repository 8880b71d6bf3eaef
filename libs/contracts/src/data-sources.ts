import { z } from 'zod';
import { type CleanedColumn, cleaningIssues, SourceCleaning } from './source-cleaning';

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

/** A field of a JSON row, dotted for nested objects (`updated_at`, `meta.id`). */
const ColumnPath = () =>
  z.string().regex(/^[A-Za-z_$][A-Za-z0-9_$-]*(\.[A-Za-z_$][A-Za-z0-9_$-]*)*$/, 'must be a field name');

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
    /** Declared cleaning of the rows before they are checked and versioned (source-cleaning.ts); none: rows as read. */
    cleaning: SourceCleaning.optional(),
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

/** A dotted path into a JSON body (`data`, `meta.next_cursor`); empty: the body itself. */
const JsonPath = z
  .string()
  .regex(/^([A-Za-z_$][A-Za-z0-9_$-]*(\.[A-Za-z_$][A-Za-z0-9_$-]*)*)?$/, 'must be a dotted path');

/** A query-string parameter name. */
const ParamName = z.string().regex(/^[A-Za-z0-9_.\-[\]]{1,64}$/, 'must be a query parameter name');

/** How an HTTP API splits its rows into pages. */
export const HttpPagination = z.discriminatedUnion('kind', [
  /** One request answers every row. */
  z.object({ kind: z.literal('none') }),
  /** `?offset=0&limit=100`, then past the rows read so far; the first empty page ends it (an API may cap the limit). */
  z.object({
    kind: z.literal('offset'),
    offsetParam: ParamName.default('offset'),
    limitParam: ParamName.default('limit'),
    pageSize: z.number().int().positive().max(10_000).default(100),
  }),
  /** The body names the next page's cursor (at `nextCursorPath`), sent back as `cursorParam`; none: the last page. */
  z.object({
    kind: z.literal('cursor'),
    cursorParam: ParamName.default('cursor'),
    nextCursorPath: JsonPath.default('next_cursor'),
  }),
  /** RFC 8288 `Link: <...>; rel="next"` headers (GitHub-style); the next page must be on the same origin. */
  z.object({ kind: z.literal('link') }),
]);
export type HttpPagination = z.infer<typeof HttpPagination>;

export const HttpSource = z.object({
  kind: z.literal('http'),
  id: SourceId,
  /** The first page's URL (http or https); `params` are added to every request. */
  url: z
    .string()
    .url()
    .refine((url) => /^https?:\/\//i.test(url), 'must be an http or https URL'),
  params: z.record(ParamName, z.string().max(1_000)).default({}),
  /** An auth header whose value is ingestion's environment variable `valueEnv` (a secret, never in the spec). */
  auth: z
    .object({
      header: z
        .string()
        .regex(/^[A-Za-z0-9-]{1,64}$/, 'must be a header name')
        .default('Authorization'),
      valueEnv: EnvName,
    })
    .optional(),
  /** Where a page's array of rows is in its JSON body; empty (the default): the body is the array. */
  recordsPath: JsonPath.default(''),
  pagination: HttpPagination.default({ kind: 'none' }),
  /**
   * Incremental by an updated-since parameter: each pull sends `param` = the watermark's `field` value (inclusive,
   * as such APIs are) and keeps only rows whose (`field`, `key`) is past the watermark, so a row is taken once per
   * update. Absent: every pull takes every row (a snapshot; unchanged content names the same version).
   */
  incremental: z.object({ param: ParamName, field: ColumnPath(), key: ColumnPath() }).optional(),
  /** A pull holds its rows until its one version is written; more than this fails the pull, committing nothing. */
  maxRows: z.number().int().positive().max(1_000_000).default(100_000),
  /** Each request's limit, and how 429s, 5xx answers and network failures are retried (Retry-After honoured). */
  timeoutMs: z.number().int().positive().max(300_000).default(30_000),
  retry: z
    .object({
      maxAttempts: z.number().int().min(1).max(20).default(6),
      baseDelayMs: z.number().int().min(1).max(60_000).default(500),
      maxDelayMs: z.number().int().min(1).max(300_000).default(30_000),
    })
    .prefault({}),
  everyMs: z.number().int().min(1_000).optional(),
  /** Declared cleaning of the rows before they are checked and versioned (source-cleaning.ts); none: rows as read. */
  cleaning: SourceCleaning.optional(),
});
export type HttpSource = z.infer<typeof HttpSource>;

/** An S3 bucket name. */
const BucketName = z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name');

/** The file formats an object-store source and uploads read, by file name ending. */
export const FILE_FORMATS = ['csv', 'jsonl', 'parquet'] as const;
export type FileFormat = (typeof FILE_FORMATS)[number];

/** The format of a file by its name (`.csv`, `.jsonl` or `.ndjson`, `.parquet`); undefined for any other. */
export function fileFormatOf(name: string): FileFormat | undefined {
  const lower = name.toLowerCase();
  if (lower.endsWith('.csv')) return 'csv';
  if (lower.endsWith('.jsonl') || lower.endsWith('.ndjson')) return 'jsonl';
  if (lower.endsWith('.parquet')) return 'parquet';
  return undefined;
}

export const ObjectStoreSource = z.object({
  kind: z.literal('object-store'),
  id: SourceId,
  /**
   * A bucket of the object store ingestion is configured with (S3_ENDPOINT, S3_ACCESS_KEY, S3_SECRET_KEY,
   * S3_REGION) and a key prefix: each new CSV, Parquet or JSON Lines file under it becomes one dataset version, once;
   * other files are skipped (counted and named in the run).
   */
  bucket: BucketName,
  prefix: z.string().max(1_000).default(''),
  /** Files taken per pull, oldest first; the rest wait for the next pull. */
  maxFilesPerPull: z.number().int().positive().max(10_000).default(100),
  everyMs: z.number().int().min(1_000).optional(),
  /** Declared cleaning of the rows before they are checked and versioned (source-cleaning.ts); none: rows as read. */
  cleaning: SourceCleaning.optional(),
});
export type ObjectStoreSource = z.infer<typeof ObjectStoreSource>;

export const DataSource = z.discriminatedUnion('kind', [PostgresSource, HttpSource, ObjectStoreSource]);
export type DataSource = z.infer<typeof DataSource>;

/**
 * Problems of a pipeline's list of sources as a whole: ids are unique, and each declared cleaning fits the dataset's
 * `columns` (see cleaningIssues).
 */
export function sourcesIssues(
  sources: readonly DataSource[],
  columns: readonly CleanedColumn[] = [],
): { path: (string | number)[]; message: string }[] {
  const issues: { path: (string | number)[]; message: string }[] = [];
  sources.forEach((source, i) => {
    if (sources.findIndex((other) => other.id === source.id) !== i) {
      issues.push({ path: [i, 'id'], message: `source "${source.id}" is declared twice` });
    }
    for (const issue of source.cleaning ? cleaningIssues(source.cleaning, columns) : []) {
      issues.push({ path: [i, 'cleaning', ...issue.path], message: issue.message });
    }
  });
  return issues;
}
