import { type PipelineSpecV1 } from '@keel/contracts';
import { type ModelDocument, type RawTable } from '@keel/ml-models';
import {
  buildReference,
  type EvaluationModel,
  type ModelPackage,
  outputsForTask,
  PACKAGE_FORMAT,
  PACKAGE_VERSION,
  type PackageLineage,
  signatureFromSpec,
  signatureJoins,
} from '@keel/model-package';

export interface PackageInputs {
  spec: PipelineSpecV1;
  /** The served model. */
  document: ModelDocument;
  /** The model the metrics were measured on, when `document` was refit on the whole window afterwards. */
  evaluation?: EvaluationModel;
  metrics: Record<string, number>;
  /** Everything the package records of where it came from, the code version (see detectCodeVersion) included. */
  lineage: PackageLineage;
  /** Raw feature columns the served model was fitted on: the drift reference monitoring compares traffic with. */
  trainColumns: RawTable;
  /** Binary: [negative, positive]; multiclass: the declared classes in output order. */
  classes?: readonly (string | number)[];
  /** Per joined table, the join hash the feature set was built with (builtJoinHashes); absent: the spec's. */
  joinSha256s?: Readonly<Record<string, string>>;
}

/** Assembles the model package; no clocks or randomness, so the same inputs always give the same bytes. */
export function buildModelPackage(inputs: PackageInputs): ModelPackage {
  const { spec } = inputs;
  const signatureInputs = signatureFromSpec(spec);
  const joins = signatureJoins(spec, inputs.joinSha256s);
  const columns: Record<string, (number | string | null)[]> = {};
  for (const [name, values] of Object.entries(inputs.trainColumns)) {
    columns[name] = values.map((v) => (v === undefined ? null : v));
  }
  return {
    format: PACKAGE_FORMAT,
    version: PACKAGE_VERSION,
    pipelineId: spec.id,
    modelName: spec.id,
    task: spec.task,
    target: packageTarget(spec, inputs.classes),
    signature: {
      inputs: signatureInputs,
      outputs: outputsForTask(spec.task, spec.target.classes),
      ...(joins ? { joins } : {}),
    },
    model: inputs.document,
    metrics: inputs.metrics,
    lineage: inputs.lineage,
    reference: buildReference(signatureInputs, columns),
    ...(inputs.evaluation ? { evaluation: inputs.evaluation } : {}),
  };
}

/** The package's target: the binary labels, or the multiclass class list in output order. */
function packageTarget(spec: PipelineSpecV1, classes: PackageInputs['classes']): ModelPackage['target'] {
  if (!classes) return { column: spec.target.column };
  if (spec.task === 'multiclass-classification') return { column: spec.target.column, classes: classes.map(String) };
  return { column: spec.target.column, positive: classes[1], negative: classes[0] };
}
