import { type ColumnType } from '@keel/contracts';
import { type DatasetTable } from '@keel/datasets';
import { CategoricalSummary, compareCategorical, compareNumeric, NumericSummary } from '@keel/ml-stats';

/** Most categories listed per side of a categorical column's diff. */
const MAX_LISTED_CATEGORIES = 20;

/** Summary statistics of a numeric column (missing values left out). */
export interface NumericStats {
  count: number;
  missingRate: number;
  mean: number | null;
  std: number | null;
  min: number | null;
  max: number | null;
}

/** How one column's distribution changed between two versions. */
export type ColumnDiff =
  | {
      name: string;
      kind: 'numeric';
      from: NumericStats;
      to: NumericStats;
      /** Over ten quantile bins of `from`; null when either side has no values. */
      psi: number | null;
      ksStatistic: number | null;
      ksPValue: number | null;
      wassersteinNormed: number | null;
    }
  | {
      name: string;
      kind: 'categorical';
      from: { count: number; missingRate: number; categories: number };
      to: { count: number; missingRate: number; categories: number };
      /** Categories only in `to` / only in `from`, most frequent first (at most 20 each). */
      added: string[];
      removed: string[];
      psi: number | null;
      jensenShannon: number | null;
      chiSquarePValue: number | null;
    };

/** What changed from one dataset version to another: rows, schema and every shared column's distribution. */
export interface DatasetDiff {
  rows: { from: number; to: number; change: number };
  schema: {
    added: { name: string; type: ColumnType }[];
    removed: { name: string; type: ColumnType }[];
    typeChanged: { name: string; from: ColumnType; to: ColumnType }[];
  };
  columns: ColumnDiff[];
}

const isNumeric = (type: ColumnType) => type === 'number' || type === 'integer';

function numericValues(values: readonly unknown[]): number[] {
  const out: number[] = [];
  for (const v of values) if (typeof v === 'number' && Number.isFinite(v)) out.push(v);
  return out;
}

function numericStats(values: readonly unknown[]): NumericStats {
  const numbers = numericValues(values);
  const n = numbers.length;
  if (n === 0) return { count: 0, missingRate: values.length ? 1 : 0, mean: null, std: null, min: null, max: null };
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  for (const v of numbers) {
    sum += v;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const mean = sum / n;
  let squares = 0;
  for (const v of numbers) squares += (v - mean) ** 2;
  return { count: n, missingRate: 1 - n / values.length, mean, std: Math.sqrt(squares / n), min, max };
}

function stringValues(values: readonly unknown[]): (string | null)[] {
  return values.map((v) => (v === null || v === undefined || v === '' ? null : String(v)));
}

function topCategories(summary: CategoricalSummary, keep: (category: string) => boolean): string[] {
  return [...summary.counts.entries()]
    .filter(([category]) => keep(category))
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, MAX_LISTED_CATEGORIES)
    .map(([category]) => category);
}

function diffColumn(name: string, type: ColumnType, from: readonly unknown[], to: readonly unknown[]): ColumnDiff {
  if (isNumeric(type)) {
    const before = numericValues(from);
    const after = numericValues(to);
    let drift: ReturnType<typeof compareNumeric> | null = null;
    if (before.length > 0 && after.length > 0) {
      const reference = NumericSummary.fromReference(before, 10);
      drift = compareNumeric(reference, new NumericSummary(reference.edges).addAll(after));
    }
    return {
      name,
      kind: 'numeric',
      from: numericStats(from),
      to: numericStats(to),
      psi: drift?.psi ?? null,
      ksStatistic: drift?.ks.statistic ?? null,
      ksPValue: drift?.ks.pValue ?? null,
      wassersteinNormed: drift?.wassersteinNormed ?? null,
    };
  }
  const before = new CategoricalSummary().addAll(stringValues(from));
  const after = new CategoricalSummary().addAll(stringValues(to));
  const drift = before.count > 0 && after.count > 0 ? compareCategorical(before, after) : null;
  const side = (summary: CategoricalSummary, total: number) => ({
    count: summary.count,
    missingRate: total ? summary.missing / total : 0,
    categories: summary.counts.size,
  });
  return {
    name,
    kind: 'categorical',
    from: side(before, from.length),
    to: side(after, to.length),
    added: topCategories(after, (category) => !before.counts.has(category)),
    removed: topCategories(before, (category) => !after.counts.has(category)),
    psi: drift?.psi ?? null,
    jensenShannon: drift?.jensenShannon ?? null,
    chiSquarePValue: drift?.chiSquare.pValue ?? null,
  };
}

/**
 * The diff of two dataset versions: row counts, columns added, removed or retyped, and for every column both hold,
 * how its distribution moved (numeric: summary statistics, PSI over `from`'s deciles, KS, normed Wasserstein;
 * categorical: counts, categories added and removed, PSI, Jensen-Shannon, chi-square). Pure.
 */
export function diffDatasets(from: DatasetTable, to: DatasetTable): DatasetDiff {
  const before = new Map(from.columns.map((c) => [c.name, c]));
  const after = new Map(to.columns.map((c) => [c.name, c]));
  const schema: DatasetDiff['schema'] = { added: [], removed: [], typeChanged: [] };
  for (const column of to.columns)
    if (!before.has(column.name)) schema.added.push({ name: column.name, type: column.type });
  for (const column of from.columns) {
    const other = after.get(column.name);
    if (!other) schema.removed.push({ name: column.name, type: column.type });
    else if (
      isNumeric(other.type) !== isNumeric(column.type) ||
      (other.type !== column.type && !isNumeric(other.type))
    ) {
      schema.typeChanged.push({ name: column.name, from: column.type, to: other.type });
    }
  }
  const retyped = new Set(schema.typeChanged.map((change) => change.name));
  const columns = from.columns
    .filter((column) => after.has(column.name) && !retyped.has(column.name))
    .map((column) => diffColumn(column.name, column.type, column.values, after.get(column.name)!.values));
  return { rows: { from: from.rowCount, to: to.rowCount, change: to.rowCount - from.rowCount }, schema, columns };
}
