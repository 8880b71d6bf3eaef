import { createHash } from 'node:crypto';
import { z } from 'zod';
import { type ColumnType } from './common';
import { filterColumns, FilterSyntaxError, MAX_FILTER_CHARS, parseFilter } from './filter-expression';
import { isTimestampText } from './timestamps';

/**
 * Declared cleaning of a source's rows (`cleaning` on a source), applied by ingestion to every row it pulls, before
 * the dataset's checks and before anything is versioned. The steps run in one fixed order, whatever order the keys
 * are written in (CLEANING_STEPS): rename, trim, cast, missing, filter, dedupe. Each step after rename names columns
 * by their new names. Every row a step drops is counted in the pull's run (`rowsDropped`), and a value a cast cannot
 * convert refuses its row with the reason, as the checks do. Cleaning is deterministic: the same rows give the same
 * dataset bytes, so a retried pull still names the same version.
 */

/** The steps, in the order they run. */
export const CLEANING_STEPS = ['rename', 'trim', 'cast', 'missing', 'filter', 'dedupe'] as const;
export type CleaningStep = (typeof CLEANING_STEPS)[number];

/** What `cast` converts a value to (a value that will not convert refuses its row). */
export const CAST_TYPES = ['string', 'number', 'integer', 'boolean', 'timestamp'] as const;
export type CastType = (typeof CAST_TYPES)[number];

/** A top-level field of a source row (a column, a JSON object's key). */
const FieldName = z
  .string()
  .min(1)
  .max(256)
  .refine((name) => name !== '__proto__', 'is not a usable field name');

const MAX_FIELDS = 1_000;

export const SourceCleaning = z
  .object({
    /** Fields renamed, `{ from: to }`; the other steps and the dataset name them by their new names. */
    rename: z.record(FieldName, FieldName).optional(),
    /** Leading and trailing white space cut from these fields' text values; `true`: from every text value. */
    trim: z.union([z.literal(true), z.array(FieldName).min(1).max(MAX_FIELDS)]).optional(),
    /** Values converted, `{ field: type }`; a missing value stays missing. */
    cast: z
      .record(FieldName, z.enum(CAST_TYPES, { error: () => `a cast is to one of ${CAST_TYPES.join(', ')}` }))
      .optional(),
    /**
     * What a missing value (absent, null or blank text) becomes: `drop` drops the row (counted), `{ default: v }`
     * puts v in its place.
     */
    missing: z
      .record(
        FieldName,
        z.union([
          z.literal('drop'),
          z.object({ default: z.union([z.string().max(4_096), z.number().finite(), z.boolean()]) }).strict(),
        ]),
      )
      .optional(),
    /** Rows kept: those for which this expression is true (see filter-expression.ts for the language). */
    filter: z.string().max(MAX_FILTER_CHARS).optional(),
    /**
     * One row per key among the rows a version holds (a PostgreSQL chunk, an API pull, a file): the last in the
     * source's order by default. It runs after the dataset's checks, so a refused row never displaces a good one.
     */
    dedupe: z
      .object({
        key: z.array(FieldName).min(1).max(16),
        keep: z.enum(['last', 'first']).default('last'),
      })
      .strict()
      .optional(),
  })
  .strict();
export type SourceCleaning = z.infer<typeof SourceCleaning>;

/** A dataset column as cleaning's spec-time checks see it. */
export interface CleanedColumn {
  name: string;
  type: ColumnType;
  /** False: every row must have a value (the target, a non-nullable feature, the time column). */
  nullable?: boolean;
}

/** Which cast types a dataset column of each type can take (others would refuse every row or mean nothing). */
const CASTS_INTO: Record<ColumnType, readonly CastType[]> = {
  number: ['number', 'integer'],
  integer: ['integer', 'number'],
  boolean: ['boolean', 'string'],
  string: ['string', 'number', 'integer', 'boolean', 'timestamp'],
  timestamp: ['timestamp', 'string'],
};

type Issue = { path: (string | number)[]; message: string };

/**
 * Problems of a declared cleaning that can be known from the spec: a filter that does not parse (with where), a step
 * naming a field by the name rename moved it from, two fields renamed to one name, a cast or a default that the
 * dataset column it feeds cannot take, a dedupe key named twice. A field the source itself lacks can only be known
 * when its rows are read (an API, a file or a query has no declared columns): a filter or a step then sees it missing.
 */
export function cleaningIssues(cleaning: SourceCleaning, columns: readonly CleanedColumn[] = []): Issue[] {
  const issues: Issue[] = [];
  const rename = cleaning.rename ?? {};
  const renamedAway = new Map<string, string>();
  const targets = new Map<string, string>();
  for (const [from, to] of Object.entries(rename)) {
    if (from === to) {
      issues.push({ path: ['rename', from], message: `renames ${from} to itself` });
      continue;
    }
    const other = targets.get(to);
    if (other !== undefined) {
      issues.push({ path: ['rename', from], message: `${other} and ${from} are both renamed to ${to}` });
    }
    targets.set(to, from);
    renamedAway.set(from, to);
  }
  for (const [from] of renamedAway) if (targets.has(from)) renamedAway.delete(from);
  const checkName = (path: (string | number)[], name: string, where = '') => {
    const to = renamedAway.get(name);
    if (to !== undefined) {
      issues.push({ path, message: `${name}${where} was renamed to ${to} by rename: name it ${to} here` });
    }
  };
  if (Array.isArray(cleaning.trim)) cleaning.trim.forEach((name, i) => checkName(['trim', i], name));
  const byName = new Map(columns.map((column) => [column.name, column]));
  for (const [name, type] of Object.entries(cleaning.cast ?? {})) {
    checkName(['cast', name], name);
    const column = byName.get(name);
    if (column && !CASTS_INTO[column.type].includes(type)) {
      issues.push({
        path: ['cast', name],
        message: `${name} is a ${column.type} column of the dataset: a cast to ${type} would refuse every row (cast it to ${CASTS_INTO[column.type].join(' or ')})`,
      });
    }
  }
  const defaults = new Set(
    Object.entries(cleaning.missing ?? {})
      .filter(([, rule]) => rule !== 'drop')
      .map(([name]) => name),
  );
  for (const column of columns) {
    const to = renamedAway.get(column.name);
    if (column.nullable === false && to !== undefined && !targets.has(column.name) && !defaults.has(column.name)) {
      issues.push({
        path: ['rename', column.name],
        message: `${column.name} is a column every row of the dataset needs: renamed to ${to}, nothing would provide it`,
      });
    }
  }
  for (const [name, rule] of Object.entries(cleaning.missing ?? {})) {
    checkName(['missing', name], name);
    const castTo = cleaning.cast?.[name];
    if (rule !== 'drop' && castTo !== undefined && !defaultFits(castTo, rule.default)) {
      issues.push({
        path: ['missing', name, 'default'],
        message: `${JSON.stringify(rule.default)} is not ${castTo === 'integer' ? 'an integer' : `a ${castTo}`}, which ${name} is cast to`,
      });
    }
    const column = byName.get(name);
    if (rule === 'drop' || !column) continue;
    const value = rule.default;
    const fits =
      column.type === 'number' || column.type === 'integer'
        ? typeof value === 'number' || (typeof value === 'string' && /^[+-]?\d+(\.\d+)?$/.test(value.trim()))
        : column.type === 'timestamp'
          ? timestampFits(value)
          : true;
    if (!fits) {
      issues.push({
        path: ['missing', name, 'default'],
        message: `${name} is a ${column.type} column of the dataset: ${JSON.stringify(value)} is not a ${column.type}`,
      });
    }
  }
  if (cleaning.filter !== undefined) {
    try {
      const expression = parseFilter(cleaning.filter);
      for (const { name, at } of filterColumns(expression)) checkName(['filter'], name, ` (at character ${at + 1})`);
    } catch (error) {
      if (!(error instanceof FilterSyntaxError)) throw error;
      issues.push({ path: ['filter'], message: `does not parse ${error.message}` });
    }
  }
  if (cleaning.dedupe) {
    cleaning.dedupe.key.forEach((name, i) => {
      checkName(['dedupe', 'key', i], name);
      if (cleaning.dedupe!.key.indexOf(name) !== i) {
        issues.push({ path: ['dedupe', 'key', i], message: `${name} is named twice in the key` });
      }
    });
  }
  return issues;
}

/** Whether a missing value's default is a value of the type its field is cast to (defaults are put in after casts). */
function defaultFits(type: CastType, value: string | number | boolean): boolean {
  const decimal = /^\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\s*$/;
  switch (type) {
    case 'string':
      return true;
    case 'number':
      return typeof value === 'number' || (typeof value === 'string' && decimal.test(value));
    case 'integer':
      return Number.isSafeInteger(typeof value === 'string' && decimal.test(value) ? Number(value) : value);
    case 'boolean':
      return typeof value === 'boolean';
    case 'timestamp':
      return timestampFits(value);
  }
}

/** Whether a default is a timestamp as ingestion's checks take it: epoch ms, or text in TIMESTAMP_FORMS. */
function timestampFits(value: string | number | boolean): boolean {
  if (typeof value === 'number') return Number.isFinite(value) && Math.abs(value) <= 8.64e15;
  return typeof value === 'string' && isTimestampText(value);
}

/** The steps a cleaning declares, in the order they run. */
export function cleaningSteps(cleaning: SourceCleaning): CleaningStep[] {
  return CLEANING_STEPS.filter((step) => {
    const value = cleaning[step];
    return (
      value !== undefined && !(typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length === 0)
    );
  });
}

/** JSON with object keys sorted, so a cleaning's digest does not depend on the order its keys were written in. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * How a version's lineage names the cleaning its rows went through: a digest of the declared cleaning (12 hex
 * digits of its sha256, key order aside) and its steps, `cleaned 1f2e3d4c5b6a [rename, cast, filter, dedupe]`; two
 * versions cleaned differently are told apart by it. Undefined when no step is declared.
 */
export function describeCleaning(cleaning: SourceCleaning | undefined): string | undefined {
  if (!cleaning) return undefined;
  const steps = cleaningSteps(cleaning);
  if (steps.length === 0) return undefined;
  const digest = createHash('sha256').update(canonical(cleaning)).digest('hex').slice(0, 12);
  return `cleaned ${digest} [${steps.join(', ')}]`;
}
