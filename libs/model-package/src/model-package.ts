import {
  checkJsonDepth,
  DEFAULT_MAX_DEPTH,
  joinDefinitionSha256,
  type PipelineSpecV1,
  type SnapshotRef,
} from '@keel/contracts';
import { type ModelDocument, stableStringify, validateModel } from '@keel/ml-models';
import {
  CategoricalSummary,
  type CategoricalSummaryJson,
  NumericSummary,
  type NumericSummaryJson,
} from '@keel/ml-stats';
import { checkPackageStructure, PackageStructureError } from './package-structure';

export const PACKAGE_FORMAT = 'keel.package';
export const PACKAGE_VERSION = 1;

/** Open Inference Protocol tensor datatypes a package's inputs and outputs use. */
export type TensorDatatype = 'FP64' | 'FP32' | 'INT64' | 'BYTES';

/** One raw input column as callers send it (one tensor per column) or as a matrix column (FP64 matrix input). */
export interface SignatureInput {
  name: string;
  datatype: TensorDatatype;
  kind: 'numeric' | 'categorical';
  nullable: boolean;
}

/**
 * A point-in-time join the model was trained with (the spec's `joins`): serving takes the entity key from the request
 * and fills `features` (signature inputs the request leaves out) from the table's online view, as of request time.
 */
export interface SignatureJoin {
  /** The feature table's pipeline. */
  pipeline: string;
  /** The request input carrying each row's entity key (BYTES); not a model input unless a feature too. */
  entityKey: string;
  features: string[];
  /** Older values are missing (Feast's ttl); absent: any age. */
  maxAgeMs?: number;
  /**
   * The join definition the model was trained with (joinDefinitionSha256): serving reads the online view built for
   * it. Absent in models trained before views were keyed by it (they read the pipeline's view that has their features).
   */
  joinSha256?: string;
}

export interface SignatureOutput {
  name: string;
  datatype: TensorDatatype;
  description: string;
  /**
   * Dimensions of one row's value beyond the row dimension: absent for one value per row (tensor shape [rows]);
   * [k] for a multiclass `probability` (shape [rows, k], one column per class in the package's class order).
   */
  shape?: number[];
}

/** Training-time distribution of one feature, the reference monitoring compares served traffic against. */
export type FeatureReference =
  { kind: 'numeric'; summary: NumericSummaryJson } | { kind: 'categorical'; summary: CategoricalSummaryJson };

export interface PackageLineage {
  datasetVersionId: string;
  datasetSha256: string;
  featureSetId: string;
  featureSetSha256: string;
  transformSha256: string;
  /** Version of the training code (package version plus git commit when known). */
  codeVersion: string;
  seed: number;
  algorithm: string;
  params: Record<string, unknown>;
  trainRows: number;
  holdoutRows: number;
  /** The training window the model saw: the snapshot manifest naming every dataset version and row it drew from. */
  snapshot?: SnapshotRef;
  /**
   * The feature set's rows the served model was fitted on. Absent (packages from before refits existed): the model is
   * the one the metrics were measured on, fitted on the train split (and validation, after a search).
   */
  servedModelFittedOn?: FittedOn;
}

/** Rows of the package's feature set a model was fitted on: which splits, and how many labelled rows. */
export interface FittedOn {
  splits: ('train' | 'validation' | 'holdout')[];
  rows: number;
}

/**
 * The model the package's held-out metrics were measured on, kept when the served model was refit on the whole
 * window afterwards (lifecycle: "the reported metrics are the held-out ones from before the refit, and the package
 * records both"). It never saw the holdout, so the registry verifies the metrics and compares with the champion on it.
 */
export interface EvaluationModel {
  model: ModelDocument;
  fittedOn: FittedOn;
}

/**
 * Everything serving and monitoring need and nothing else: the model with its fitted preprocessing (so serving applies
 * exactly what training fitted), the input/output signature, holdout metrics, lineage and the drift reference.
 * Serialized with sorted keys and no timestamps: same inputs and seed ⇒ same bytes ⇒ same sha256.
 */
export interface ModelPackage {
  format: typeof PACKAGE_FORMAT;
  version: typeof PACKAGE_VERSION;
  pipelineId: string;
  modelName: string;
  task: PipelineSpecV1['task'];
  /** Binary: the positive and negative labels; multiclass: the class labels in the order of the probability columns. */
  target: { column: string; positive?: string | number; negative?: string | number; classes?: string[] };
  /** `joins`: only for a pipeline with point-in-time joins. */
  signature: { inputs: SignatureInput[]; outputs: SignatureOutput[]; joins?: SignatureJoin[] };
  model: ModelDocument;
  metrics: Record<string, number>;
  lineage: PackageLineage;
  reference: Record<string, FeatureReference>;
  /** Present when `model` was refit on the whole window after the metrics were measured (see EvaluationModel). */
  evaluation?: EvaluationModel;
}

/**
 * The package as its held-out metrics saw it: `model` is the model from before the refit when there was a refit, the
 * served model otherwise. Whatever judges a package on its holdout rows (metric verification, gates, the champion
 * comparison) scores this view; serving loads the package itself.
 */
export function heldOutView(pkg: ModelPackage): ModelPackage {
  return pkg.evaluation ? { ...pkg, model: pkg.evaluation.model } : pkg;
}

export function serializePackage(pkg: ModelPackage): Buffer {
  return Buffer.from(stableStringify(pkg));
}

/**
 * Parses package bytes, checking format and version, nesting (JSON_MAX_DEPTH's default) and structure (tree shape,
 * index ranges, finite numbers, size caps: `checkPackageStructure`); the model document is validated by ml-models.
 */
export function parsePackage(bytes: Buffer | string, maxDepth = DEFAULT_MAX_DEPTH): ModelPackage {
  checkJsonDepth(bytes, maxDepth);
  let raw: Partial<ModelPackage>;
  try {
    raw = JSON.parse(bytes.toString()) as Partial<ModelPackage>;
  } catch (error) {
    throw new PackageStructureError(`the package is not JSON: ${(error as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null) throw new PackageStructureError('the package is not a JSON object');
  if (raw.format !== PACKAGE_FORMAT) throw new Error(`not a Keel model package (format ${String(raw.format)})`);
  if (raw.version !== PACKAGE_VERSION) throw new Error(`unsupported package version ${String(raw.version)}`);
  for (const field of ['pipelineId', 'modelName', 'task', 'signature', 'model', 'lineage', 'reference'] as const) {
    if (raw[field] === undefined) throw new Error(`model package lacks "${field}"`);
  }
  checkPackageStructure(raw);
  const pkg = raw as ModelPackage;
  // ml-models' validation, so a corrupt model body fails here, at load, not at the first request. The document was
  // just parsed from these bytes and is nobody else's, so it is validated in place (a copy would double the cost).
  validateModel(pkg.model);
  if (pkg.evaluation) validateModel(pkg.evaluation.model);
  return pkg;
}

/**
 * The spec's point-in-time joins as serving needs them, or undefined without joins. `joinSha256s` (by table) are the
 * hashes the feature set was built with, when its `features.materialized` named them: the views features built for
 * it; otherwise each join's own.
 */
export function signatureJoins(
  spec: PipelineSpecV1,
  joinSha256s?: Readonly<Record<string, string>>,
): SignatureJoin[] | undefined {
  if (!spec.joins?.length) return undefined;
  return spec.joins.map((join) => ({
    pipeline: join.pipeline,
    entityKey: join.entityKey,
    features: [...join.features],
    ...(join.maxAgeMs === undefined ? {} : { maxAgeMs: join.maxAgeMs }),
    joinSha256: joinSha256s?.[join.pipeline] ?? joinDefinitionSha256(join),
  }));
}

/** Signature inputs from the spec's features. */
export function signatureFromSpec(spec: PipelineSpecV1): SignatureInput[] {
  return spec.features.map((feature) => ({
    name: feature.name,
    datatype: feature.type === 'numeric' ? 'FP64' : 'BYTES',
    kind: feature.type,
    nullable: feature.nullable,
  }));
}

/**
 * Outputs a package of this task produces. Multiclass needs the class labels: `probability` has one FP64 column per
 * class, in their order (FP64 like the binary probability, so one numeric codec serves every task).
 */
export function outputsForTask(task: PipelineSpecV1['task'], classes: readonly string[] = []): SignatureOutput[] {
  if (task === 'multiclass-classification') {
    return [
      {
        name: 'probability',
        datatype: 'FP64',
        shape: [classes.length],
        description: `probability of each class, columns in the order ${classes.join(', ')}`,
      },
      { name: 'label', datatype: 'BYTES', description: 'predicted label (the most probable class)' },
    ];
  }
  return task === 'regression'
    ? [{ name: 'prediction', datatype: 'FP64', description: 'predicted value of the target' }]
    : [
        { name: 'probability', datatype: 'FP64', description: 'probability of the positive label' },
        { name: 'label', datatype: 'BYTES', description: 'predicted label (positive when probability >= 0.5)' },
      ];
}

/**
 * The per-row columns an output is held in between the model and the wire (and logged as, for monitoring): its own
 * name for one value per row; `<name>_<j>` for column j of a [rows, k] output (the probability of class j).
 */
export function outputColumnNames(output: Pick<SignatureOutput, 'name' | 'shape'>): string[] {
  const width = output.shape?.[0];
  return width === undefined ? [output.name] : Array.from({ length: width }, (_, j) => `${output.name}_${j}`);
}

/** Builds the drift reference from training rows: quantile bins for numeric features, counts for categorical ones. */
export function buildReference(
  inputs: readonly SignatureInput[],
  columns: Readonly<Record<string, readonly (number | string | boolean | null)[]>>,
  bins = 10,
): Record<string, FeatureReference> {
  const reference: Record<string, FeatureReference> = {};
  for (const input of inputs) {
    const values = columns[input.name] ?? [];
    if (input.kind === 'numeric') {
      const numbers = values.map((v) => (v === null || v === '' ? null : Number(v)));
      reference[input.name] = { kind: 'numeric', summary: NumericSummary.fromReference(numbers, bins).toJSON() };
    } else {
      const strings = values.map((v) => (v === null ? null : String(v)));
      reference[input.name] = { kind: 'categorical', summary: new CategoricalSummary().addAll(strings).toJSON() };
    }
  }
  return reference;
}
