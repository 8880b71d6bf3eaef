import { createHash } from 'node:crypto';
import { z } from 'zod';
import { PipelineId } from './common';

const ColumnName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'must be a simple column name');

/** Most feature tables one pipeline may join: each is loaded whole when a feature set is built. */
export const MAX_JOINS = 8;

/**
 * A point-in-time-correct join (Feast's semantics): the feature table is every validated dataset version of another
 * pipeline (ingested any way: Kafka records, uploads, sources). Each training row takes, per feature, the value of
 * the table's latest row for its entity whose time is at or before the row's `timeColumn`, never later, and no older
 * than `maxAgeMs`; otherwise the value is missing. Serving takes the latest values per entity at request time.
 */
export const PointInTimeJoinSpec = z.object({
  /** The pipeline whose dataset versions are the feature table. */
  pipeline: PipelineId,
  /** The entity's key: one of this pipeline's `entityColumns`, and a column of the table's dataset. */
  entityKey: ColumnName,
  /** The table's column saying since when a row's values are true; absent: the table pipeline's timeColumn. */
  featureTime: ColumnName.optional(),
  /**
   * Of table rows with equal feature times, the one whose value here is latest wins (Feast's created_timestamp, a
   * timestamp column of the table); absent: the one in the newest version, then the last in its version.
   */
  createdTime: ColumnName.optional(),
  /**
   * The features the table gives: each declared in this spec's `features` (its type and preprocessing come from
   * there; it must be nullable, as a row may find no value) and a column of the table's dataset of the same type.
   * They are not columns of this pipeline's own dataset versions.
   */
  features: z.array(ColumnName).min(1).max(1_000),
  /** A table row older than this at the row's time gives missing values (Feast's ttl); absent: any age. */
  maxAgeMs: z.number().int().positive().optional(),
});
export type PointInTimeJoinSpec = z.infer<typeof PointInTimeJoinSpec>;

type Issue = { path: (string | number)[]; message: string };

interface JoiningSpec {
  id: string;
  timeColumn?: string;
  entityColumns?: readonly string[];
  joins?: readonly PointInTimeJoinSpec[];
  target: { column: string };
  features: readonly { name: string; type: 'numeric' | 'categorical'; nullable: boolean }[];
}

/** What a spec's joins must satisfy on their own (the table's columns are checked where specs are applied). */
export function joinsIssues(spec: JoiningSpec): Issue[] {
  const issues: Issue[] = [];
  const entityColumns = spec.entityColumns ?? [];
  const joins = spec.joins ?? [];
  entityColumns.forEach((name, i) => {
    if (entityColumns.indexOf(name) !== i) issues.push({ path: ['entityColumns', i], message: `"${name}" twice` });
    if (name === spec.target.column || name === spec.timeColumn) {
      issues.push({ path: ['entityColumns', i], message: `"${name}" is the target or the time column` });
    }
  });
  if (joins.length > 0 && !spec.timeColumn) {
    issues.push({ path: ['joins'], message: "a point-in-time join needs timeColumn, the rows' event time" });
  }
  const joined = new Map<string, number>();
  const tables = new Set<string>();
  joins.forEach((join, i) => {
    if (join.pipeline === spec.id) {
      issues.push({ path: ['joins', i, 'pipeline'], message: 'a pipeline cannot join its own dataset' });
    }
    // One online view per joining pipeline and table: a second join of the table would find no view of its own.
    if (tables.has(join.pipeline)) {
      issues.push({
        path: ['joins', i, 'pipeline'],
        message: `"${join.pipeline}" is joined twice: put its features in one join`,
      });
    }
    tables.add(join.pipeline);
    if (!entityColumns.includes(join.entityKey)) {
      issues.push({ path: ['joins', i, 'entityKey'], message: `"${join.entityKey}" is not in entityColumns` });
    }
    // Serving takes the key as a string (BYTES); a numeric feature of the same name would need it as a number.
    if (spec.features.some((feature) => feature.name === join.entityKey && feature.type === 'numeric')) {
      issues.push({
        path: ['joins', i, 'entityKey'],
        message: `"${join.entityKey}" is a numeric feature: an entity key is a string (declare it categorical)`,
      });
    }
    join.features.forEach((name, k) => {
      const path = ['joins', i, 'features', k];
      const feature = spec.features.find((candidate) => candidate.name === name);
      if (!feature) issues.push({ path, message: `"${name}" is not a declared feature` });
      else if (!feature.nullable) {
        issues.push({ path, message: `"${name}" must be nullable: a row may find no value as of its time` });
      }
      if (joined.has(name)) issues.push({ path, message: `"${name}" is joined twice` });
      joined.set(name, i);
      if (entityColumns.includes(name)) issues.push({ path, message: `"${name}" is an entity column` });
    });
  });
  return issues;
}

/**
 * The spec as the registry records it: each join that names no featureTime gets the table's timeColumn as it is
 * now. A feature time is part of what a join's values are (Feast keeps a feature view's timestamp field in its
 * definition, never a reference to whatever the source says later), so it is pinned when the joining pipeline is
 * applied and the join's hash (joinDefinitionSha256) covers it. The join is rebuilt through its schema, so its keys
 * stay in schema order: the spec read back (GET) and applied again is the same JSON, not a new version. `timeColumnOf`
 * answers for the tables the spec joins (absent: left as is, joinTableIssues refuses the join).
 */
export function withJoinFeatureTimes<S extends { joins?: readonly PointInTimeJoinSpec[] }>(
  spec: S,
  timeColumnOf: (tablePipelineId: string) => string | undefined,
): S {
  if (!spec.joins?.some((join) => join.featureTime === undefined)) return spec;
  const joins = spec.joins.map((join) => {
    const featureTime = join.featureTime ?? timeColumnOf(join.pipeline);
    return featureTime === undefined ? join : PointInTimeJoinSpec.parse({ ...join, featureTime });
  });
  return { ...spec, joins };
}

/**
 * A table re-applied with another timeColumn while a join reads the current one as its feature time (named, recorded
 * or, in specs applied before feature times were recorded, implied): refused with one message saying what to do. A
 * table has no other timestamp column (datasetSchema), so the join cannot keep its column while the table moves, nor
 * follow the move under the hash its models were trained with: the join has to go (or point at another table) first.
 */
export function featureTimeMoveIssues(
  join: PointInTimeJoinSpec,
  index: number,
  table: { before?: string; after?: string },
): Issue[] {
  const featureTime = join.featureTime ?? table.before;
  if (table.before === table.after || featureTime === undefined || featureTime !== table.before) return [];
  return [
    {
      path: ['joins', index, 'featureTime'],
      message:
        `reads timeColumn "${featureTime}" as its feature time, so the table cannot move its timeColumn to ` +
        `"${table.after ?? '(none)'}": remove that join (or point it at another table) first`,
    },
  ];
}

/**
 * What a join's online view is built from (the table, key, feature and created times, features), hashed: views are
 * kept per pipeline, table and this hash, and a model's signature carries the hash of the join it was trained with,
 * so two model versions trained on different definitions (a champion and a challenger) each read a view built for
 * theirs. Not maxAgeMs: serving applies it per model from the signature to the same view, so models that differ only
 * in it share one. The features' order is not part of it. The feature time is the one the registry recorded
 * (withJoinFeatureTimes); only specs applied before that name none (hashed as null, the table's timeColumn, which the
 * registry then keeps from moving: featureTimeMoveIssues).
 */
export function joinDefinitionSha256(join: {
  pipeline: string;
  entityKey: string;
  featureTime?: string;
  createdTime?: string;
  features: readonly string[];
  maxAgeMs?: number;
}): string {
  // Features sorted: their order changes neither the view nor what a model reads from it (by name).
  const features = [...join.features].sort();
  const definition = [join.pipeline, join.entityKey, join.featureTime ?? null, join.createdTime ?? null, features];
  return createHash('sha256').update(JSON.stringify(definition)).digest('hex');
}

/** The features a spec takes from feature tables (not columns of its own dataset versions). */
export function joinedFeatures(spec: { joins?: readonly PointInTimeJoinSpec[] }): Set<string> {
  return new Set((spec.joins ?? []).flatMap((join) => join.features));
}

/**
 * What a join needs of its table, checked where specs are applied: the table pipeline declares the entity key in its
 * `entityColumns` (so features knows which pipelines are tables, and its dataset carries the key), and its dataset
 * (its `datasetSchema`, and its timeColumn) has a timestamp feature time and each feature with the type this spec
 * declares for it (numeric: number, categorical: string).
 */
export function joinTableIssues(
  spec: JoiningSpec,
  join: PointInTimeJoinSpec,
  index: number,
  table:
    | { schema: readonly { name: string; type: string }[]; timeColumn?: string; entityColumns?: readonly string[] }
    | undefined,
): Issue[] {
  const at = (...path: (string | number)[]) => ['joins', index, ...path];
  if (!table) return [{ path: at('pipeline'), message: `pipeline "${join.pipeline}" is not applied: apply it first` }];
  const issues: Issue[] = [];
  const typeOf = (name: string) => table.schema.find((column) => column.name === name)?.type;
  if (!table.entityColumns?.includes(join.entityKey)) {
    issues.push({
      path: at('entityKey'),
      message: `"${join.pipeline}" does not declare "${join.entityKey}" in its entityColumns`,
    });
  }
  const featureTime = join.featureTime ?? table.timeColumn;
  if (!featureTime) {
    issues.push({ path: at('featureTime'), message: `"${join.pipeline}" has no timeColumn: name featureTime` });
  } else if (typeOf(featureTime) !== 'timestamp') {
    issues.push({
      path: at('featureTime'),
      message: `"${featureTime}" is not a timestamp column of "${join.pipeline}"`,
    });
  }
  if (join.createdTime && typeOf(join.createdTime) !== 'timestamp') {
    issues.push({
      path: at('createdTime'),
      message: `"${join.createdTime}" is not a timestamp column of "${join.pipeline}"`,
    });
  }
  join.features.forEach((name, k) => {
    const declared = spec.features.find((feature) => feature.name === name);
    const expected = declared?.type === 'numeric' ? 'number' : 'string';
    const actual = typeOf(name);
    if (!actual) issues.push({ path: at('features', k), message: `"${join.pipeline}" has no column "${name}"` });
    else if (declared && actual !== expected) {
      issues.push({
        path: at('features', k),
        message: `"${name}" is ${actual} in "${join.pipeline}", ${expected} here`,
      });
    }
  });
  return issues;
}
