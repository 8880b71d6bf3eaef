import { type PostgresSource } from '@keel/contracts';
import { Client } from 'pg';
import Cursor from 'pg-cursor';

/**
 * Where an incremental pull of a source stands: the (cursor, key) of the last row taken, as PostgreSQL prints them
 * (text keeps a timestamp's microseconds and a bigint's digits, which JavaScript values would lose) and passes them
 * back as parameters of the column's own type.
 */
export interface Watermark {
  cursor: string;
  key: string;
}

/** Names of the two columns a pull adds to each row (the watermark of that row); dropped before checking. */
const CURSOR_TEXT = '__keel_cursor';
const KEY_TEXT = '__keel_key';

/** A quoted SQL identifier. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * The SQL of one read of a source: its rows whose (cursor, key) is past `after` and at most `upTo` (either bound
 * optional), in (cursor, key) order, each with its watermark as text. Rows whose cursor is NULL are never pulled.
 */
export function pullQuery(
  source: Pick<PostgresSource, 'table' | 'query' | 'cursor'>,
  range: { after?: Watermark | null; upTo?: Watermark },
): { text: string; values: string[] } {
  const from = source.table
    ? source.table.split('.').map(quoteIdent).join('.')
    : `(${source.query!.trim().replace(/;\s*$/, '')})`;
  const cursor = `keel_source.${quoteIdent(source.cursor.column)}`;
  const key = `keel_source.${quoteIdent(source.cursor.key)}`;
  const values: string[] = [];
  const where = [`${cursor} IS NOT NULL`];
  if (range.after) {
    values.push(range.after.cursor, range.after.key);
    where.push(`(${cursor}, ${key}) > ($${values.length - 1}, $${values.length})`);
  }
  if (range.upTo) {
    values.push(range.upTo.cursor, range.upTo.key);
    where.push(`(${cursor}, ${key}) <= ($${values.length - 1}, $${values.length})`);
  }
  return {
    text:
      `SELECT keel_source.*, ${cursor}::text AS ${CURSOR_TEXT}, ${key}::text AS ${KEY_TEXT} ` +
      `FROM ${from} AS keel_source WHERE ${where.join(' AND ')} ORDER BY ${cursor}, ${key}`,
    values,
  };
}

/** A row as read, and its watermark. */
export interface PulledRow {
  record: Record<string, unknown>;
  watermark: Watermark;
}

/** A row as ingestion checks it: timestamps as ISO text, the watermark columns split off. */
export function toPulledRow(row: Record<string, unknown>): PulledRow {
  const record: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(row)) {
    if (name === CURSOR_TEXT || name === KEY_TEXT) continue;
    record[name] = value instanceof Date ? value.toISOString() : value;
  }
  return { record, watermark: { cursor: String(row[CURSOR_TEXT]), key: String(row[KEY_TEXT]) } };
}

/**
 * One connection reading a source: each `read` opens a server-side cursor (a portal, rows fetched `chunkRows` at
 * a time) inside a REPEATABLE READ, READ ONLY transaction, so a pull sees one snapshot and only one chunk is ever in
 * memory.
 */
export class PostgresReader {
  private constructor(private readonly client: Client) {}

  static async connect(url: string, signal?: AbortSignal): Promise<PostgresReader> {
    const client = new Client({ connectionString: url, application_name: 'keel-ingestion-source' });
    // A connection that dies under the reader (a server restart) fails the read in progress, not the process.
    client.on('error', () => undefined);
    await client.connect();
    const reader = new PostgresReader(client);
    signal?.addEventListener('abort', () => void reader.close(), { once: true });
    return reader;
  }

  /** Yields the rows of `query`, `chunkRows` at a time, in one read-only snapshot. */
  async *chunks(query: { text: string; values: string[] }, chunkRows: number): AsyncGenerator<PulledRow[]> {
    await this.client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const cursor = this.client.query(new Cursor<Record<string, unknown>>(query.text, query.values));
    let drained = false;
    try {
      for (;;) {
        const rows = await cursor.read(chunkRows);
        if (rows.length === 0) break;
        yield rows.map(toPulledRow);
      }
      drained = true;
    } finally {
      // Closing a cursor waits for the server's answer, which a dead connection never sends: after a failure (or
      // a caller that stopped early) the connection is dropped instead (see close).
      if (drained) {
        await cursor.close();
        await this.client.query('ROLLBACK');
      }
    }
  }

  async close(): Promise<void> {
    await this.client.end().catch(() => undefined);
  }
}
