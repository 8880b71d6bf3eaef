import { type ColumnType } from '@keel/contracts';
import { parquetMetadata, parquetReadObjects, parquetSchema } from 'hyparquet';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { type DatasetTable } from './table';

// Parquet rather than a private format: pandas, duckdb and Spark open dataset versions directly. hyparquet-writer
// is pure JS (no native build) and was the fastest of the writers we tried on Adult.
const PARQUET_TYPES: Record<ColumnType, 'DOUBLE' | 'INT64' | 'STRING' | 'BOOLEAN'> = {
  number: 'DOUBLE',
  integer: 'DOUBLE',
  string: 'STRING',
  boolean: 'BOOLEAN',
  // ISO 8601 text: timestamps in upstream records are local times without zones (bike sharing), kept verbatim.
  timestamp: 'STRING',
};

/** Key-value metadata entry recording each column's logical type, so a round trip restores `integer` and `timestamp`. */
const TYPES_KEY = 'keel.column_types';

/**
 * Serializes a table to Parquet bytes. Same table (and metadata) ⇒ same bytes, so the sha256 addresses the content.
 * `metadata` adds key-value entries to the file, e.g. the owning pipeline, so equal rows of two pipelines are two
 * distinct objects.
 */
export function writeParquet(table: DatasetTable, metadata: Readonly<Record<string, string>> = {}): Buffer {
  const buffer = parquetWriteBuffer({
    columnData: table.columns.map((c) => ({ name: c.name, data: c.values, type: PARQUET_TYPES[c.type] })),
    // No min/max/null-count statistics: they were a third of the encoding time (hyparquet-writer compares every value,
    // strings as bytes), and no reader here prunes by them; validation and training read versions whole.
    statistics: false,
    kvMetadata: [
      { key: TYPES_KEY, value: JSON.stringify(Object.fromEntries(table.columns.map((c) => [c.name, c.type]))) },
      ...Object.entries(metadata).map(([key, value]) => ({ key, value })),
    ],
  });
  return Buffer.from(buffer);
}

/** Reads Parquet bytes written by writeParquet (or any flat Parquet file of scalar columns). */
export async function readParquet(bytes: Buffer): Promise<DatasetTable> {
  const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  const metadata = parquetMetadata(file);
  const declared = JSON.parse(
    metadata.key_value_metadata?.find((entry) => entry.key === TYPES_KEY)?.value ?? '{}',
  ) as Record<string, ColumnType>;
  const names = parquetSchema(metadata).children.map((child) => child.element.name);
  const rows = (await parquetReadObjects({ file, metadata })) as Record<string, unknown>[];
  return {
    rowCount: rows.length,
    columns: names.map((name) => {
      const values = rows.map((row) => normalize(row[name]));
      return { name, type: declared[name] ?? inferType(values), values };
    }),
  };
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
