import { type PostgresSource } from '@keel/contracts';
import { Client } from 'pg';
import { COPY_DATA_HEADER, CopyOut } from './copy-out';
import { ChunkBuffers, readBufferSocket } from './read-buffers';

/**
 * Where an incremental pull of a source stands: the (cursor, key) of the last row taken, as PostgreSQL prints them
 * (text keeps a timestamp's microseconds and a bigint's digits, which JavaScript values would lose) and passes them
 * back as parameters of the column's own type.
 */
export interface Watermark {
  cursor: string;
  key: string;
}

/** A quoted SQL identifier. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * The SQL of one read of a source: its rows whose (cursor, key) is past `after` and at most `upTo` (either bound
 * optional), in (cursor, key) order. Rows whose cursor is NULL are never pulled. A row's watermark is its cursor and
 * key columns as COPY prints them: COPY's text is each type's output function, the text `::text` gives.
 */
export function pullQuery(
  source: Pick<PostgresSource, 'table' | 'query' | 'cursor'>,
  range: { after?: Watermark | null; upTo?: Watermark },
  options: { literals?: boolean } = {},
): { text: string; values: string[] } {
  const from = source.table
    ? source.table.split('.').map(quoteIdent).join('.')
    : `(${source.query!.trim().replace(/;\s*$/, '')})`;
  const cursor = `keel_source.${quoteIdent(source.cursor.column)}`;
  const key = `keel_source.${quoteIdent(source.cursor.key)}`;
  const values: string[] = [];
  const where = [`${cursor} IS NOT NULL`];
  // COPY takes no parameters: there the watermark is written as literals, untyped like parameters, so PostgreSQL
  // reads them as the columns' types either way.
  const bound = (watermark: Watermark) => {
    if (options.literals) return `(${quoteLiteral(watermark.cursor)}, ${quoteLiteral(watermark.key)})`;
    values.push(watermark.cursor, watermark.key);
    return `($${values.length - 1}, $${values.length})`;
  };
  if (range.after) where.push(`(${cursor}, ${key}) > ${bound(range.after)}`);
  if (range.upTo) where.push(`(${cursor}, ${key}) <= ${bound(range.upTo)}`);
  return {
    text: `SELECT keel_source.* FROM ${from} AS keel_source WHERE ${where.join(' AND ')} ORDER BY ${cursor}, ${key}`,
    values,
  };
}

/** A SQL string literal of any text (E'' form, so it reads the same whatever standard_conforming_strings says). */
export function quoteLiteral(text: string): string {
  if (text.includes('\0')) throw new Error('a watermark cannot hold a NUL character');
  return `E'${text.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

/** A column of a pull's result: its name and type (the OID node-postgres picks a parser by). */
export interface PulledField {
  name: string;
  typeId: number;
}

/**
 * Rows of a pull as the copy sent them: one CopyData message a row, each a line of COPY text (COPY escapes newlines
 * inside values; `copyDataText` reads them); and the watermark of the last row. The bytes are a reused buffer of the
 * reader's: `release` once nothing reads them any more (not calling it only costs a new buffer; calling it again does
 * nothing).
 */
export interface CopyChunk {
  bytes: Buffer;
  rows: number;
  last: Watermark;
  release(): void;
}

/** The text of a COPY text-format field: `\N` is NULL, backslash sequences are unescaped. */
export function copyFieldText(field: string): string | null {
  if (field === '\\N') return null;
  if (!field.includes('\\')) return field;
  return field.replace(
    /\\(?:([0-7]{1,3})|x([0-9a-fA-F]{1,2})|(.))/g,
    (_, octal?: string, hex?: string, char?: string) => {
      if (octal !== undefined) return String.fromCharCode(parseInt(octal, 8));
      if (hex !== undefined) return String.fromCharCode(parseInt(hex, 16));
      switch (char) {
        case 'b':
          return '\b';
        case 'f':
          return '\f';
        case 'n':
          return '\n';
        case 'r':
          return '\r';
        case 't':
          return '\t';
        case 'v':
          return '\v';
        default:
          return char!;
      }
    },
  );
}

/** The watermark of one COPY line of a pull: its cursor and key fields (never NULL: the query leaves those out). */
function lineWatermark(line: string, columns: WatermarkFields): Watermark {
  const cells = line.split('\t');
  return { cursor: copyFieldText(cells[columns.cursor])!, key: copyFieldText(cells[columns.key])! };
}

/** Where the cursor and the key are among a pull's fields. */
export interface WatermarkFields {
  cursor: number;
  key: number;
}

/** A value as ingestion checks it: a timestamp (node-postgres gives a Date) as ISO text, anything else as it is. */
export function pulledValue(value: unknown): unknown {
  return value instanceof Date ? value.toISOString() : value;
}

/**
 * The session settings a source's rows are read under. COPY and the watermark print times by the server's DateStyle,
 * which a database or role may set to SQL or Postgres ("02/03/2024 10:00:00 UTC", day or month first): the
 * timestamp grammar refuses those, and Date.parse read the DMY ones wrong. Set after connecting rather than as the
 * connection's `options`, which `options=` in the source's URL would replace.
 */
export const READER_SESSION = "SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'";

/**
 * One connection reading a source: each `copy` streams the source's rows with COPY inside a REPEATABLE READ, READ
 * ONLY transaction, so a pull sees one snapshot and only about one chunk is ever in memory.
 */
export class PostgresReader {
  /** The buffers the copies' chunks are written to, reused from chunk to chunk (see read-buffers.ts). */
  private readonly buffers = new ChunkBuffers();

  private constructor(private readonly client: Client) {}

  static async connect(url: string, signal?: AbortSignal): Promise<PostgresReader> {
    const client = new Client({
      connectionString: url,
      application_name: 'keel-ingestion-source',
      // Reads into one buffer of the connection's, lent to a copy (node-postgres passes its config, ssl included).
      stream: readBufferSocket,
    });
    // A connection that dies under the reader (a server restart) fails the read in progress, not the process.
    client.on('error', () => undefined);
    await client.connect();
    try {
      await client.query(READER_SESSION);
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
    const reader = new PostgresReader(client);
    signal?.addEventListener('abort', () => void reader.close(), { once: true });
    return reader;
  }

  /**
   * The columns of `query`'s result, and its rows as COPY text `chunkRows` at a time, in one read-only snapshot:
   * `COPY (query) TO STDOUT` streams at the server's pace with nothing parsed here (`CopyOut` walks the messages'
   * headers and counts one row a message; the caller decodes a chunk on a worker thread). Backpressure holds the
   * connection while the caller works on a chunk, so memory stays at about two chunks whatever the table's size.
   */
  async copy(
    source: Pick<PostgresSource, 'table' | 'query' | 'cursor'>,
    range: { after?: Watermark | null; upTo?: Watermark },
    chunkRows: number,
  ): Promise<{ fields: PulledField[]; watermark: WatermarkFields; chunks: AsyncGenerator<CopyChunk> }> {
    await this.client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const described = pullQuery(source, range);
    const { fields } = await this.client.query({ text: `${described.text} LIMIT 0`, values: described.values });
    // The query names both columns, so PostgreSQL has already refused a result where either is missing or ambiguous.
    const watermark = {
      cursor: fields.findIndex((field) => field.name === source.cursor.column),
      key: fields.findIndex((field) => field.name === source.cursor.key),
    };
    const copy = this.client.query(
      new CopyOut(`COPY (${pullQuery(source, range, { literals: true }).text}) TO STDOUT`, chunkRows, this.buffers),
    );
    const { client, buffers } = this;
    async function* chunks(): AsyncGenerator<CopyChunk> {
      let drained = false;
      try {
        for (let chunk = await copy.next(); chunk; chunk = await copy.next()) {
          const { bytes, rows, lastRow } = chunk;
          // Read here, before the chunk is handed over (its worker overwrites the headers in place): the last row's
          // text without its header and newline.
          const line = bytes.toString('utf8', lastRow + COPY_DATA_HEADER, bytes.length - 1);
          yield { bytes, rows, last: lineWatermark(line, watermark), release: releaseOnce(buffers, bytes) };
        }
        drained = true;
      } finally {
        // After a failure or an early stop the connection is dropped instead (mid-copy it cannot be reused).
        if (drained) await client.query('ROLLBACK');
        else copy.abandon();
      }
    }
    return {
      fields: fields.map((field) => ({ name: field.name, typeId: field.dataTypeID })),
      watermark,
      chunks: chunks(),
    };
  }

  async close(): Promise<void> {
    await this.client.end().catch(() => undefined);
  }
}

/** A chunk's release: its buffer goes back to `buffers` the first time, later calls do nothing. */
export function releaseOnce(buffers: ChunkBuffers, bytes: Buffer): () => void {
  let released = false;
  return () => {
    if (released) return;
    released = true;
    buffers.release(bytes);
  };
}
