import {
  type ColumnType,
  datasetSchema,
  isFeatureTable,
  type PipelineSpec,
  type ValidationFinding,
} from '@keel/contracts';
import { type DatasetColumn, type DatasetTable } from '@keel/datasets';
import { type z } from 'zod';

export type Finding = z.infer<typeof ValidationFinding>;

/** Statistics of one column of a dataset version. */
export interface ColumnProfile {
  name: string;
  type: ColumnType;
  missingRate: number;
  min?: number;
  max?: number;
  mean?: number;
  distinctCount?: number;
}

/** What later versions of a pipeline are compared with: the first version's schema and statistics. */
export interface ReferenceColumn {
  name: string;
  type: ColumnType;
  missingRate: number;
  min?: number;
  max?: number;
  /** Categories of a string column, sorted; absent when there were more than MAX_REFERENCE_CATEGORIES. */
  categories?: string[];
  /** A protected attribute's facets and their shares of the rows (references set before bias checks have none). */
  shares?: { value: string; share: number }[];
}

/** Beyond this many distinct values a column is an identifier, not a category: no unseen-category check. */
export const MAX_REFERENCE_CATEGORIES = 10_000;

function typeFits(actual: ColumnType, expected: ColumnType): boolean {
  if (expected === 'number') return actual === 'number' || actual === 'integer';
  if (expected === 'timestamp') return actual === 'timestamp' || actual === 'string';
  return actual === expected;
}

function missingCount(column: DatasetColumn): number {
  let missing = 0;
  for (const value of column.values) if (value === null) missing++;
  return missing;
}

function numericRange(column: DatasetColumn): { min?: number; max?: number; mean?: number } {
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  let n = 0;
  for (const value of column.values) {
    if (typeof value !== 'number') continue;
    if (value < min) min = value;
    if (value > max) max = value;
    sum += value;
    n++;
  }
  return n === 0 ? {} : { min, max, mean: sum / n };
}

function isNumeric(type: ColumnType): boolean {
  return type === 'number' || type === 'integer';
}

function rate(count: number, rows: number): number {
  return rows === 0 ? 0 : count / rows;
}

/** Per-column statistics of a version, for its report. */
export function profileTable(table: DatasetTable): ColumnProfile[] {
  return table.columns.map((column) => {
    const profile: ColumnProfile = {
      name: column.name,
      type: column.type,
      missingRate: rate(missingCount(column), table.rowCount),
    };
    if (isNumeric(column.type)) Object.assign(profile, numericRange(column));
    else profile.distinctCount = new Set(column.values.filter((v) => v !== null)).size;
    return profile;
  });
}

/** The reference a pipeline's first version sets: per column its type, missing rate, range or categories. */
export function inferReference(table: DatasetTable): ReferenceColumn[] {
  return table.columns.map((column) => {
    const reference: ReferenceColumn = {
      name: column.name,
      type: column.type,
      missingRate: rate(missingCount(column), table.rowCount),
    };
    if (isNumeric(column.type)) {
      const { min, max } = numericRange(column);
      if (min !== undefined) Object.assign(reference, { min, max });
    } else if (column.type === 'string') {
      const categories = new Set<string>();
      for (const value of column.values) if (value !== null) categories.add(String(value));
      if (categories.size <= MAX_REFERENCE_CATEGORIES) reference.categories = [...categories].sort();
    }
    return reference;
  });
}

function percent(value: number): string {
  return `${(value * 100).toFixed(1)}%`;
}

/**
 * Checks a dataset version against its pipeline spec and the pipeline's reference. Errors reject the version
 * (missing or mistyped columns, too few rows, missing targets, multiclass labels outside the declared classes, too
 * many missing values, too many unseen categories); warnings pass it with a note (some unseen categories, values outside the widened reference range).
 */
export function validateDataset(
  spec: PipelineSpec,
  table: DatasetTable,
  reference: readonly ReferenceColumn[],
): Finding[] {
  const findings: Finding[] = [];
  const { validation } = spec;
  if (table.rowCount < validation.minRows) {
    findings.push({
      check: 'min-rows',
      severity: 'error',
      message: `${table.rowCount} rows, fewer than the ${validation.minRows} the spec requires`,
    });
  }
  for (const expected of datasetSchema(spec)) {
    const column = table.columns.find((c) => c.name === expected.name);
    if (!column) {
      // Protected attributes that are not features are lineage for fairness reports, not inputs: a warning.
      findings.push({
        check: 'required-column',
        column: expected.name,
        severity: expected.role === 'attribute' ? 'warning' : 'error',
        message: `column ${expected.name} is missing`,
      });
      continue;
    }
    if (!typeFits(column.type, expected.type)) {
      findings.push({
        check: 'column-type',
        column: column.name,
        severity: 'error',
        message: `column ${column.name} is ${column.type}, expected ${expected.type}`,
      });
      continue;
    }
    const missing = missingCount(column);
    const missingRate = rate(missing, table.rowCount);
    if (expected.role === 'target' && missing > 0) {
      findings.push({
        check: 'target-missing',
        column: column.name,
        severity: 'error',
        message: `target ${column.name} is missing in ${missing} rows`,
      });
    } else if (!expected.nullable && missing > 0) {
      findings.push({
        check: 'missing-values',
        column: column.name,
        severity: 'error',
        message: `${column.name} is not nullable but is missing in ${missing} rows`,
      });
    } else if (missingRate > validation.maxMissingRate) {
      findings.push({
        check: 'missing-rate',
        column: column.name,
        severity: 'error',
        message: `${column.name} is missing in ${percent(missingRate)} of rows, above ${percent(validation.maxMissingRate)}`,
      });
    }
    if (expected.role === 'target' && !isFeatureTable(spec) && spec.target.classes) {
      findings.push(...undeclaredClasses(column, table.rowCount, spec.target.classes));
    }
    const ref = reference.find((r) => r.name === column.name);
    if (!ref) continue;
    if (expected.role === 'categorical' && ref.categories) {
      findings.push(...unseenCategories(column, table.rowCount, ref.categories, validation.maxUnseenCategoryRate));
    }
    if (expected.role === 'numeric' && ref.min !== undefined && ref.max !== undefined) {
      findings.push(...outOfRange(column, ref.min, ref.max, validation.rangeTolerance));
    }
  }
  return findings;
}

/**
 * Multiclass: target labels outside the spec's declared classes. An error: a model cannot learn a class it has no
 * output for, and dropping the rows would hide that the spec and the data disagree.
 */
function undeclaredClasses(column: DatasetColumn, rows: number, classes: readonly string[]): Finding[] {
  const declared = new Set(classes);
  const undeclared = new Map<string, number>();
  let count = 0;
  for (const value of column.values) {
    if (value === null || declared.has(String(value))) continue;
    count++;
    undeclared.set(String(value), (undeclared.get(String(value)) ?? 0) + 1);
  }
  if (count === 0) return [];
  const examples = [...undeclared.keys()]
    .slice(0, 5)
    .map((v) => JSON.stringify(v))
    .join(', ');
  return [
    {
      check: 'undeclared-class',
      column: column.name,
      severity: 'error',
      message: `${count} rows (${percent(rate(count, rows))}) have ${column.name} labels outside target.classes (${examples})`,
    },
  ];
}

function unseenCategories(column: DatasetColumn, rows: number, known: readonly string[], maxRate: number): Finding[] {
  const seen = new Set(known);
  const unseen = new Map<string, number>();
  let count = 0;
  for (const value of column.values) {
    if (value === null || seen.has(String(value))) continue;
    count++;
    unseen.set(String(value), (unseen.get(String(value)) ?? 0) + 1);
  }
  if (count === 0) return [];
  const unseenRate = rate(count, rows);
  const examples = [...unseen.keys()]
    .slice(0, 5)
    .map((v) => JSON.stringify(v))
    .join(', ');
  return [
    {
      check: 'unseen-category',
      column: column.name,
      severity: unseenRate > maxRate ? 'error' : 'warning',
      message: `${percent(unseenRate)} of rows have ${column.name} categories the reference never had (${examples}); limit ${percent(maxRate)}`,
    },
  ];
}

function outOfRange(column: DatasetColumn, min: number, max: number, tolerance: number): Finding[] {
  const slack = (max - min) * tolerance;
  const low = min - slack;
  const high = max + slack;
  let count = 0;
  for (const value of column.values) if (typeof value === 'number' && (value < low || value > high)) count++;
  if (count === 0) return [];
  return [
    {
      check: 'numeric-range',
      column: column.name,
      severity: 'warning',
      message: `${count} values of ${column.name} are outside the reference range [${min}, ${max}] widened to [${low}, ${high}]`,
    },
  ];
}
