import {
  AlertRaisedV1,
  DatasetRejectedV1,
  DatasetValidatedV1,
  DriftDetectedV1,
  type EventData,
  LabelReceivedV1,
  LabelWindowClosedV1,
  ModelRegisteredV1,
  type PipelineId,
  type PipelineSpecV1,
  PredictionLoggedV1,
  PredictionLoggedV2,
  type Scalar,
} from '@keel/contracts';
import { ensureTopics } from '@keel/messaging';
import { type ModelPackage } from '@keel/model-package';
import { type Telemetry } from '@keel/telemetry';
import { binaryTestPackage, type ServiceUnderTest, stackKafka, startServiceUnderTest } from '@keel/testing';
import { monitoringEnvSchema } from '../config';
import { packageLocatorModule, type PackageLocator } from '../drift/package-locator';
import { MonitoringModule } from '../monitoring.module';
import { PREDICTION_STREAM_GROUP } from '../stream/prediction-stream.consumer';

/** Helpers shared by monitoring's integration tests and its benchmark, on top of the @keel/testing harness. */

type AdultRow = Record<string, Scalar>;
type PredictionBatch = EventData<typeof PredictionLoggedV2>;

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
 * Adult rows as a v2 prediction-log batch, as serving logs them: inputs and outputs as columns, row i with prediction
 * id `<idPrefix>-<i>` served at `servedAt + i` ms.
 */
export function adultBatch(
  rows: readonly AdultRow[],
  options: {
    pipelineId: string;
    modelName: string;
    modelVersion: number;
    batchId: string;
    idPrefix?: string;
    servedAt?: number;
  },
): PredictionBatch {
  const inputs: PredictionBatch['inputs'] = {};
  const served = rows.map(servedInputs);
  for (const name of Object.keys(served[0] ?? {})) {
    inputs[name] = served.map((row) => {
      const value = row[name];
      return typeof value === 'boolean' ? String(value) : (value ?? null);
    });
  }
  const servedAt = options.servedAt ?? Date.now();
  const idPrefix = options.idPrefix ?? options.batchId;
  return {
    pipelineId: options.pipelineId as PipelineId,
    modelName: options.modelName,
    modelVersion: options.modelVersion,
    batchId: options.batchId,
    rows: rows.length,
    predictionIds: rows.map((_, i) => `${idPrefix}-${i}`),
    requestIds: rows.map((_, i) => `${idPrefix}-request-${Math.floor(i / 10)}`),
    servedAt: rows.map((_, i) => servedAt + i),
    inputs,
    outputs: {
      probability: rows.map((_, i) => (i % 10) / 10),
      label: rows.map((_, i) => (i % 4 === 0 ? '>50K' : '<=50K')),
    },
  };
}

/** Monitoring's consumer groups by suffix, and what each consumes. */
export const MONITORING_CONSUMERS = {
  predictions: [PredictionLoggedV1],
  [PREDICTION_STREAM_GROUP]: [PredictionLoggedV2],
  labels: [LabelReceivedV1],
  'retrain-policy': [DriftDetectedV1, DatasetValidatedV1, LabelWindowClosedV1],
  alerts: [DriftDetectedV1, DatasetRejectedV1, ModelRegisteredV1, LabelWindowClosedV1],
  'alert-webhooks': [AlertRaisedV1],
};

/**
 * Starts monitoring as a service under test (its own consumer groups at the topics' ends unless `fromCommitted`, its
 * own `database`), with `locator` in place of the registry; `env` overrides the service's environment; `name` fixes
 * the instance name (hence its consumer groups), for a test that restarts the same instance.
 */
export async function startMonitoringUnderTest(options: {
  database: string;
  locator: PackageLocator;
  env?: Record<string, string | undefined>;
  name?: string;
  /** True: keep the groups where they are (a restarted instance resumes), rather than moving them to the ends. */
  fromCommitted?: boolean;
  /** Real telemetry, for a test that reads its traces from Jaeger (default: the harness's stub). */
  telemetry?: Telemetry;
}): Promise<ServiceUnderTest> {
  // The groups are placed at the topics' ends before the service (which would create a missing topic) starts.
  const admin = stackKafka('monitoring-test-topics').admin();
  await admin.connect();
  try {
    await ensureTopics(admin);
  } finally {
    await admin.disconnect();
  }
  return startServiceUnderTest({
    service: 'monitoring',
    envSchema: monitoringEnvSchema,
    features: [MonitoringModule, packageLocatorModule(options.locator)],
    consumers: options.fromCommitted ? {} : MONITORING_CONSUMERS,
    database: options.database,
    env: options.env,
    name: options.name,
    ...(options.telemetry ? { telemetry: options.telemetry } : {}),
  });
}
