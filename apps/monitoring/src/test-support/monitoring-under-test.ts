import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type EventData, LabelReceivedV1, type PipelineSpecV1, PredictionLoggedV1 } from '@keel/contracts';
import { createKafka, silentLogger } from '@keel/messaging';
import { createModelDocument, fitTransform, TransformRunner, trainLogisticRegression } from '@keel/ml-models';
import { buildReference, type ModelPackage, outputsForTask, signatureFromSpec } from '@keel/model-package';
import { parsePipelineSpec } from '@keel/pipelines';
import { type RunningService, startService } from '@keel/service-runtime';
import { stackEndpoints, uniqueName } from '@keel/testing';
import { type Kafka } from 'kafkajs';
import { monitoringEnvSchema } from '../config';
import { packageLocatorModule, type PackageLocator } from '../drift/package-locator';
import { MonitoringModule } from '../monitoring.module';

/** Helpers shared by monitoring's integration test and its throughput bench: Adult data, a real package, a service. */

const root = join(__dirname, '../../../..');
const adultLines = readFileSync(join(root, 'fixtures/datasets/adult/adult.csv'), 'utf8').trimEnd().split('\n');
const header = adultLines[0].split(',');

export type AdultRow = Record<string, string | number | null>;

/** The Adult pipeline spec under a fresh id, with drift windows of `windowRows` rows and a PSI threshold of 0.2. */
export function adultSpec(idPrefix: string, windowRows = 200): PipelineSpecV1 {
  const yaml = readFileSync(join(root, 'fixtures/pipelines/adult-income.yaml'), 'utf8');
  const spec = parsePipelineSpec(yaml.replace('id: adult-income', `id: ${uniqueName(idPrefix)}`));
  return { ...spec, monitoring: { windowRows, psiThreshold: 0.2 } };
}

/** Adult rows `from` … `from + n − 1` (0-based after the header), numeric columns as numbers, '' as null. */
export function adultRows(spec: PipelineSpecV1, n: number, from: number): AdultRow[] {
  const numeric = new Set(spec.features.filter((f) => f.type === 'numeric').map((f) => f.name));
  return adultLines.slice(1 + from, 1 + from + n).map((line) => {
    const fields = line.split(',');
    return Object.fromEntries(
      header.map((name, i) => [name, fields[i] === '' ? null : numeric.has(name) ? Number(fields[i]) : fields[i]]),
    );
  });
}

/** A real package: logistic regression on the rows, with the drift reference of the same rows. */
export function adultPackage(
  spec: PipelineSpecV1,
  rows: AdultRow[],
  { modelName, codeVersion }: { modelName: string; codeVersion: string },
): ModelPackage {
  const inputs = signatureFromSpec(spec);
  const columns = Object.fromEntries(inputs.map((input) => [input.name, rows.map((row) => row[input.name])]));
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
    format: 'keel.package',
    version: 1,
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

export interface MonitoringUnderTest {
  service: RunningService;
  kafka: Kafka;
}

/**
 * Starts monitoring on port 0 against the stack, under a unique name (hence its own consumer groups, so a monitoring
 * service running on the stack does not take the events), with its groups starting at the topics' ends (so it does
 * not replay earlier runs' events), on its own database (`mongoUrl`) and with `locator` in place of the registry.
 */
export async function startMonitoringUnderTest(options: {
  namePrefix: string;
  mongoUrl: string;
  locator: PackageLocator;
  logLevel?: string;
}): Promise<MonitoringUnderTest> {
  const name = uniqueName(options.namePrefix);
  const kafka = createKafka({ clientId: name, brokers: stackEndpoints.kafkaBrokers, logger: silentLogger });
  const admin = kafka.admin();
  await admin.connect();
  try {
    for (const [suffix, topic] of [
      ['predictions', PredictionLoggedV1.topic],
      ['labels', LabelReceivedV1.topic],
    ]) {
      const ends = await admin.fetchTopicOffsets(topic);
      await admin.setOffsets({
        groupId: `${name}.${suffix}`,
        topic,
        partitions: ends.map(({ partition, high }) => ({ partition, offset: high })),
      });
    }
  } finally {
    await admin.disconnect();
  }
  const service = await startService({
    name,
    envSchema: monitoringEnvSchema,
    features: [MonitoringModule, packageLocatorModule(options.locator)],
    telemetry: { enabled: false, forceFlush: async () => undefined, shutdown: async () => undefined },
    env: {
      ...process.env,
      MONGO_URL: options.mongoUrl,
      HTTP_PORT: '0',
      GRPC_PORT: '0',
      LOG_LEVEL: options.logLevel ?? 'silent',
    },
  });
  return { service, kafka };
}
