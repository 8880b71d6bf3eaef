import { type ColumnType, type Scalar } from '@keel/contracts';

/** One column of a dataset version, values in row order; null is missing. */
export interface DatasetColumn {
  name: string;
  type: ColumnType;
  values: (number | string | boolean | null)[];
}

/** A dataset version in memory, column-oriented as Parquet stores it. */
export interface DatasetTable {
  rowCount: number;
  columns: DatasetColumn[];
}

export function column(table: DatasetTable, name: string): DatasetColumn {
  const found = table.columns.find((c) => c.name === name);
  if (!found) throw new Error(`dataset has no column "${name}"`);
  return found;
}

/** Builds a table from flat records; absent and null fields become null. */
export function tableFromRecords(
  records: readonly Readonly<Record<string, Scalar | undefined>>[],
  schema: readonly { name: string; type: ColumnType }[],
): DatasetTable {
  return {
    rowCount: records.length,
    columns: schema.map(({ name, type }) => ({
      name,
      type,
      values: records.map((record) => {
        // Own keys only: a field named `constructor` or `toString` that a record lacks is absent, not inherited.
        const value = Object.hasOwn(record, name) ? record[name] : undefined;
        return value === undefined ? null : value;
      }),
    })),
  };
}

/** Rows of a table as records, optionally only some columns. */
export function recordsFromTable(table: DatasetTable, columns?: readonly string[]): Record<string, Scalar>[] {
  const chosen = columns ? columns.map((name) => column(table, name)) : table.columns;
  const rows: Record<string, Scalar>[] = new Array(table.rowCount);
  for (let i = 0; i < table.rowCount; i++) {
    const row: Record<string, Scalar> = {};
    for (const c of chosen) row[c.name] = c.values[i];
    rows[i] = row;
  }
  return rows;
}

/** Rows at the given indices, all columns. */
export function takeRows(table: DatasetTable, indices: ArrayLike<number>): DatasetTable {
  return {
    rowCount: indices.length,
    columns: table.columns.map((c) => ({
      ...c,
      values: Array.from({ length: indices.length }, (_, i) => c.values[indices[i]]),
    })),
  };
}
