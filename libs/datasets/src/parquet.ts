import { brotliDecompressSync, constants, gunzipSync, zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import { type ColumnType } from '@keel/contracts';
import { type Compressors, parquetMetadata, parquetReadObjects, parquetSchema } from 'hyparquet';
import { encodeParquet, type PageCodec } from './parquet-encoder';
import { type DatasetTable } from './table';

// Parquet rather than a private format: pandas, duckdb and Spark open dataset versions directly. The writer is our
// own (parquet-encoder.ts says why); reading stays with hyparquet.

/** Key-value metadata entry recording each column's logical type, so a round trip restores `integer` and `timestamp`. */
const TYPES_KEY = 'keel.column_types';

/**
 * Pages are compressed with zstd at level 1 by Node's own zlib (no native addon to install): as cheap in CPU as
 * native snappy on our tables and files about four times smaller (less to hash, upload and store). Its output is
 * deterministic for a given zstd version, level and parameters (single-threaded); the zstd inside Node is pinned
 * with Node (package.json engines, the Dockerfile's image), so a Node upgrade may change the bytes a table encodes
 * to, as any change of encoder does.
 */
const ZSTD_LEVEL_1: PageCodec = {
  id: 6,
  compress: (body) => zstdCompressSync(body, { params: { [constants.ZSTD_c_compressionLevel]: 1 } }),
};

/**
 * Decompressors beyond hyparquet's built-in snappy: ZSTD for what writeParquet writes now (versions written before
 * are SNAPPY), GZIP and BROTLI because Node has them, for files other tools wrote. Each inflates at most the page
 * header's uncompressed size (Node throws past it): an uploaded file cannot claim a small page and inflate a huge one.
 */
export const parquetDecompressors: Compressors = {
  ZSTD: (input, size) => zstdDecompressSync(input, { maxOutputLength: Math.max(1, size) }),
  GZIP: (input, size) => gunzipSync(input, { maxOutputLength: Math.max(1, size) }),
  BROTLI: (input, size) => brotliDecompressSync(input, { maxOutputLength: Math.max(1, size) }),
};

/**
 * Serializes a table to Parquet bytes. Same table (and metadata) ⇒ same bytes, so the sha256 addresses the content.
 * `metadata` adds key-value entries to the file, e.g. the owning pipeline, so equal rows of two pipelines are two
 * distinct objects.
 */
export function writeParquet(table: DatasetTable, metadata: Readonly<Record<string, string>> = {}): Buffer {
  return encodeParquet(
    table,
    [
      { key: TYPES_KEY, value: JSON.stringify(Object.fromEntries(table.columns.map((c) => [c.name, c.type]))) },
      ...Object.entries(metadata).map(([key, value]) => ({ key, value })),
    ],
    ZSTD_LEVEL_1,
  );
}

/**
 * Reads Parquet bytes written by writeParquet (or any flat Parquet file of scalar columns). `columns`: only those of
 * them the file has (the others' pages are not decoded), in the file's order.
 */
export async function readParquet(
  bytes: Buffer,
  { columns }: { columns?: readonly string[] } = {},
): Promise<DatasetTable> {
  const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  const metadata = parquetMetadata(file);
  const declared = JSON.parse(
    metadata.key_value_metadata?.find((entry) => entry.key === TYPES_KEY)?.value ?? '{}',
  ) as Record<string, ColumnType>;
  const names = parquetSchema(metadata)
    .children.map((child) => child.element.name)
    .filter((name) => !columns || columns.includes(name));
  const rows = (await parquetReadObjects({
    file,
    metadata,
    compressors: parquetDecompressors,
    ...(columns ? { columns: names } : {}),
  })) as Record<string, unknown>[];
  return {
    rowCount: rows.length,
    columns: names.map((name) => {
      const values = rows.map((row) => normalize(row[name]));
      return { name, type: declared[name] ?? inferType(values), values };
    }),
  };
}

/**
 * A Parquet file's columns and the type readParquet gives each, from its footer alone (no page decoded): the type the
 * file declares, or null where readParquet would infer it from the values.
 */
export function parquetColumnTypes(bytes: Buffer): [name: string, type: ColumnType | null][] {
  const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  const metadata = parquetMetadata(file);
  const declared = new Map(
    Object.entries(
      JSON.parse(metadata.key_value_metadata?.find((entry) => entry.key === TYPES_KEY)?.value ?? '{}') as Record<
        string,
        ColumnType
      >,
    ),
  );
  return parquetSchema(metadata).children.map((child) => [
    child.element.name,
    declared.get(child.element.name) ?? null,
  ]);
}

function normalize(value: unknown): number | string | boolean | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'bigint') return Number(value);
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'number' || typeof value === 'string' || typeof value === 'boolean') return value;
  return String(value);
}

function inferType(values: readonly (number | string | boolean | null)[]): ColumnType {
  const first = values.find((v) => v !== null);
  return typeof first === 'number' ? 'number' : typeof first === 'boolean' ? 'boolean' : 'string';
}
