import { z } from 'zod';
import { PipelineId } from './common';
import { sourcesIssues } from './data-sources';
import { MAX_JOINS } from './point-in-time-joins';
import { AlertsSpec } from './retrain-policy';
import {
  checkShiftTests,
  dataValidationChecks,
  datasetSchema,
  DeclaredFeatures,
  IngestionSpec,
  PipelineSources,
  PipelineSpecV1,
  validationShift,
} from './pipeline-spec';

const ColumnName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'must be a simple column name');

/**
 * The sections only a model pipeline (`kind: Pipeline`) has: what it predicts, how it trains, is judged, served,
 * rolled out and monitored. A feature table naming one is refused with its path (as are `validation.bias` and
 * `alerts.performanceDrop`), rather than the section being dropped silently: a spec converted from a model pipeline
 * would otherwise lose it without a word.
 */
export const MODEL_ONLY_SECTIONS = [
  'task',
  'target',
  'protectedAttributes',
  'joins',
  'split',
  'training',
  'gates',
  'fairnessGates',
  'robustnessGate',
  'businessGate',
  'rollout',
  'monitoring',
  'performance',
  'retrainPolicy',
] as const;

const FeatureTableObject = z.object({
  apiVersion: z.literal('keel/v1'),
  kind: z.literal('FeatureTable'),
  id: PipelineId,
  description: z.string().max(2_000).optional(),
  /** The feature time: since when a row's values are true for its entity (a join's default `featureTime`). */
  timeColumn: ColumnName,
  /**
   * A timestamp column saying when a row was written (Feast's created_timestamp_column): a join naming it as its
   * `createdTime` breaks ties of equal feature times by it. Absent: none.
   */
  createdTimeColumn: ColumnName.optional(),
  /** The entity keys every row carries (strings, never missing): what joins match on. */
  entityColumns: z.array(ColumnName).min(1).max(MAX_JOINS),
  /**
   * The table's value columns, by name and type (numeric: numbers, categorical: strings). A joining pipeline declares
   * each feature it takes again, with its own preprocessing; the options here only type the column and say whether
   * it may be missing.
   */
  features: DeclaredFeatures,
  ingestion: IngestionSpec,
  sources: PipelineSources,
  /** Schema, missing values, unseen categories, ranges, row count and shift between versions, as for any pipeline. */
  validation: z.object({ ...dataValidationChecks, shift: validationShift }).prefault({}),
  /** Alerts on its data (a rejected version); a table has no labelled windows, so no `performanceDrop`. */
  alerts: AlertsSpec.prefault({}),
});

/** A model-only setting on a table: refused naming its path, never dropped without a word. */
const modelOnly = (what: string) =>
  z.never({ error: `a FeatureTable has no model: "${what}" belongs to kind Pipeline` }).optional();

/** Every model-only section, refused in the same pass as the rest of the document. */
const modelOnlySections = Object.fromEntries(MODEL_ONLY_SECTIONS.map((section) => [section, modelOnly(section)]));

/** A table as parsed: the model-only keys can only be absent, so they are not part of its type. */
type FeatureTable = z.infer<typeof FeatureTableObject>;

/**
 * A feature table (`kind: FeatureTable`, Feast's feature view, Hopsworks' feature group): time-stamped values per
 * entity, ingested and validated as any pipeline's data, kept as online views for the pipelines that join it, and
 * nothing else: no task, no target, no feature set, training run, model, rollout or monitoring of predictions.
 */
export const FeatureTableSpecV1 = FeatureTableObject.extend({
  ...modelOnlySections,
  validation: FeatureTableObject.shape.validation
    .unwrap()
    .extend({ bias: modelOnly('validation.bias') })
    .prefault({}),
}).superRefine((spec, ctx) => featureTableIssues(spec, ctx)) as unknown as z.ZodType<
  FeatureTable,
  z.input<typeof FeatureTableObject>
>;
export type FeatureTableSpecV1 = FeatureTable;
export type FeatureTableSpecInput = z.input<typeof FeatureTableObject>;

function featureTableIssues(spec: FeatureTable, ctx: z.RefinementCtx): void {
  const names = spec.features.map((feature) => feature.name);
  const duplicate = names.find((name, i) => names.indexOf(name) !== i);
  if (duplicate)
    ctx.addIssue({ code: 'custom', path: ['features'], message: `feature "${duplicate}" is declared twice` });
  if (names.includes(spec.timeColumn)) {
    ctx.addIssue({ code: 'custom', path: ['timeColumn'], message: `"${spec.timeColumn}" is also a feature` });
  }
  const created = spec.createdTimeColumn;
  if (created && (created === spec.timeColumn || names.includes(created) || spec.entityColumns.includes(created))) {
    ctx.addIssue({
      code: 'custom',
      path: ['createdTimeColumn'],
      message: `"${created}" is already the time column, a feature or an entity column`,
    });
  }
  spec.entityColumns.forEach((name, i) => {
    const path = ['entityColumns', i];
    if (spec.entityColumns.indexOf(name) !== i) ctx.addIssue({ code: 'custom', path, message: `"${name}" twice` });
    if (name === spec.timeColumn) ctx.addIssue({ code: 'custom', path, message: `"${name}" is the time column` });
    if (names.includes(name)) {
      ctx.addIssue({ code: 'custom', path, message: `"${name}" is a feature: an entity key is a column of its own` });
    }
  });
  if (spec.alerts.performanceDrop) {
    ctx.addIssue({
      code: 'custom',
      path: ['alerts', 'performanceDrop'],
      message: 'a FeatureTable has no model: no labelled windows to watch',
    });
  }
  checkShiftTests(spec, ctx);
  for (const issue of sourcesIssues(spec.sources, datasetSchema(spec))) {
    ctx.addIssue({ code: 'custom', path: ['sources', ...issue.path], message: issue.message });
  }
}

/** Any applied spec: a model pipeline or a feature table. */
export type PipelineSpec = PipelineSpecV1 | FeatureTableSpecV1;

/**
 * Validates a spec document of either kind, chosen by its `kind`: `FeatureTable` is a feature table, anything else
 * (`Pipeline`, or a wrong kind, whose error then names the field) a model pipeline, as every spec was before tables.
 */
export function safeParsePipelineSpec(raw: unknown): z.ZodSafeParseResult<PipelineSpec> {
  // The document's `kind` as written (isFeatureTable asks of a spec already parsed).
  const kind = raw && typeof raw === 'object' ? (raw as { kind?: unknown }).kind : undefined;
  return kind === 'FeatureTable' ? FeatureTableSpecV1.safeParse(raw) : PipelineSpecV1.safeParse(raw);
}

/** As `safeParsePipelineSpec`, throwing the ZodError. */
export function parseAnyPipelineSpec(raw: unknown): PipelineSpec {
  const parsed = safeParsePipelineSpec(raw);
  if (!parsed.success) throw parsed.error;
  return parsed.data;
}
