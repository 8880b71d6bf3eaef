import { type PipelineSpecV1, type Scalar } from '@keel/contracts';
import { createModelDocument, fitTransform, TransformRunner, trainLogisticRegression } from '@keel/ml-models';
import {
  buildReference,
  type ModelPackage,
  outputsForTask,
  PACKAGE_FORMAT,
  PACKAGE_VERSION,
  signatureFromSpec,
} from '@keel/model-package';

/** A record as fixtures hold it: column name to number, text, boolean or null. */
type FixtureRow = Readonly<Record<string, Scalar>>;

/**
 * A real model package for a binary-classification spec, trained here: logistic regression on `rows` with the spec's
 * numeric transforms and one-hot categories fitted on the same rows, and the drift reference of those rows. For tests that need a package in the
 * registry's or serving's hands without running the pipeline; lineage ids are zeros.
 */
export function binaryTestPackage(
  spec: PipelineSpecV1,
  rows: readonly FixtureRow[],
  options: { modelName?: string; codeVersion?: string; l2?: number; seed?: number } = {},
): ModelPackage {
  const positive = String(spec.target.positive);
  const labels = new Set(rows.map((row) => String(row[spec.target.column])));
  const negative = [...labels].find((label) => label !== positive) ?? `not ${positive}`;
  const inputs = signatureFromSpec(spec);
  // The transforms take text, numbers or null; a boolean cell becomes its text.
  const cell = (value: Scalar | undefined) => (typeof value === 'boolean' ? String(value) : (value ?? null));
  const columns = Object.fromEntries(inputs.map((input) => [input.name, rows.map((row) => cell(row[input.name]))]));
  const fitted = fitTransform(
    columns,
    spec.features.map((f) =>
      f.type === 'numeric'
        ? { name: f.name, kind: 'numeric' as const, impute: f.impute, standardize: f.standardize }
        : // One-hot whatever the spec says: a missing category is then all zeros, which logistic regression takes.
          { name: f.name, kind: 'categorical' as const, encoding: 'onehot' as const, unknown: f.unknown },
    ),
  );
  const l2 = options.l2 ?? 1e-4;
  const model = createModelDocument({
    model: trainLogisticRegression(
      new TransformRunner(fitted).table(columns),
      rows.map((row) => (String(row[spec.target.column]) === positive ? 1 : 0)),
      { l2 },
    ),
    preprocessing: fitted,
    classes: [negative, positive],
  });
  return {
    format: PACKAGE_FORMAT,
    version: PACKAGE_VERSION,
    pipelineId: spec.id,
    modelName: options.modelName ?? spec.id,
    task: spec.task,
    target: { column: spec.target.column, positive, negative },
    signature: { inputs, outputs: outputsForTask(spec.task) },
    model,
    metrics: {},
    lineage: {
      datasetVersionId: 'ds-0000000000000000',
      datasetSha256: '0'.repeat(64),
      featureSetId: 'fs-0000000000000000',
      featureSetSha256: '0'.repeat(64),
      transformSha256: '0'.repeat(64),
      codeVersion: options.codeVersion ?? 'test',
      seed: options.seed ?? 1,
      algorithm: 'logistic-regression',
      params: { l2 },
      trainRows: rows.length,
      holdoutRows: 0,
    },
    reference: buildReference(inputs, columns),
  };
}
