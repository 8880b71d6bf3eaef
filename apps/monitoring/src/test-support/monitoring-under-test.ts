import { type EventData, LabelReceivedV1, type PipelineSpecV1, PredictionLoggedV1, type Scalar } from '@keel/contracts';
import { type ModelPackage } from '@keel/model-package';
import { binaryTestPackage, type ServiceUnderTest, startServiceUnderTest } from '@keel/testing';
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
  return binaryTestPackage(spec, rows, { modelName, codeVersion, seed: 42 });
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
