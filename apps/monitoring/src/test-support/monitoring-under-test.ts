import { type EventData, LabelReceivedV1, type PipelineSpecV1, PredictionLoggedV1, type Scalar } from '@keel/contracts';
import { createModelDocument, fitTransform, TransformRunner, trainLogisticRegression } from '@keel/ml-models';
import {
  buildReference,
  type ModelPackage,
  outputsForTask,
  PACKAGE_FORMAT,
  PACKAGE_VERSION,
  signatureFromSpec,
} from '@keel/model-package';
import { type ServiceUnderTest, startServiceUnderTest } from '@keel/testing';
import { monitoringEnvSchema } from '../config';
import { packageLocatorModule, type PackageLocator } from '../drift/package-locator';
import { MonitoringModule } from '../monitoring.module';

/** Helpers shared by monitoring's integration test and its throughput bench, on top of the @keel/testing harness. */

type AdultRow = Record<string, Scalar>;

/** A real package: logistic regression on the rows, with the drift reference of the same rows. */
export function adultPackage(
  spec: PipelineSpecV1,
  rows: readonly AdultRow[],
  { modelName, codeVersion }: { modelName: string; codeVersion: string },
): ModelPackage {
  const inputs = signatureFromSpec(spec);
  // Fixture cells are text, numbers or null (never booleans), as the transforms take them.
  const cell = (value: Scalar | undefined) => (typeof value === 'boolean' ? String(value) : (value ?? null));
  const columns = Object.fromEntries(inputs.map((input) => [input.name, rows.map((row) => cell(row[input.name]))]));
  const fitted = fitTransform(
    columns,
    spec.features.map((f) =>
      f.type === 'numeric'
        ? { name: f.name, kind: 'numeric' as const, impute: f.impute, standardize: f.standardize }
        : { name: f.name, kind: 'categorical' as const, encoding: 'onehot' as const, unknown: f.unknown },
    ),
  );
  const model = createModelDocument({
    model: trainLogisticRegression(
      new TransformRunner(fitted).table(columns),
      rows.map((row) => (row.income === spec.target.positive ? 1 : 0)),
    ),
    preprocessing: fitted,
    classes: ['<=50K', '>50K'],
  });
  return {
    format: PACKAGE_FORMAT,
    version: PACKAGE_VERSION,
    pipelineId: spec.id,
    modelName,
    task: spec.task,
    target: { column: 'income', positive: '>50K', negative: '<=50K' },
    signature: { inputs, outputs: outputsForTask(spec.task) },
    model,
    metrics: {},
    lineage: {
      datasetVersionId: 'ds-0000000000000000',
      datasetSha256: '0'.repeat(64),
      featureSetId: 'fs-0000000000000000',
      featureSetSha256: '0'.repeat(64),
      transformSha256: '0'.repeat(64),
      codeVersion,
      seed: 42,
      algorithm: 'logistic-regression',
      params: {},
      trainRows: rows.length,
      holdoutRows: 0,
    },
    reference: buildReference(inputs, columns),
  };
}

/** The served inputs of an Adult row: every column but the target and the split marker. */
export function servedInputs(row: AdultRow): EventData<typeof PredictionLoggedV1>['predictions'][number]['inputs'] {
  return Object.fromEntries(Object.entries(row).filter(([name]) => name !== 'income' && name !== 'split'));
}

/**
 * Starts monitoring as a service under test (its own consumer groups at the topics' ends, its own `database`), with
 * `locator` in place of the registry; `env` overrides the service's environment (a whole MONGO_URL, a LOG_LEVEL).
 */
export function startMonitoringUnderTest(options: {
  database: string;
  locator: PackageLocator;
  env?: Record<string, string | undefined>;
}): Promise<ServiceUnderTest> {
  return startServiceUnderTest({
    service: 'monitoring',
    envSchema: monitoringEnvSchema,
    features: [MonitoringModule, packageLocatorModule(options.locator)],
    consumers: { predictions: [PredictionLoggedV1], labels: [LabelReceivedV1] },
    database: options.database,
    env: options.env,
  });
}
