/**
 * Serving's inference path alone, without the stack: the real gRPC controller, InferenceService, model store and
 * prediction log over an Adult GBDT package trained here, with the v2 prediction log validated and serialized as the
 * real publisher does (the Kafka send itself is faked) and spans exported over OTLP to whatever
 * OTEL_EXPORTER_OTLP_ENDPOINT names (the hot-path driver runs a sink that accepts and drops them).
 *
 *   node [--cpu-prof] -r @swc-node/register tools/bench/serving/hot-path-server.ts <port>
 */
import { telemetry } from '../../../apps/serving/src/telemetry';
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { PredictionLoggedV2, type Scalar } from '@keel/contracts';
import { EventPublisher } from '@keel/messaging';
import { createModelDocument, fitTransform, trainGbdt, TransformRunner } from '@keel/ml-models';
import {
  answerMalformedRequests,
  type GrpcServer,
  type Infrastructure,
  MetricsService,
  type ServiceIdentity,
  tolerantDeserializers,
} from '@keel/service-runtime';
import { binaryTestPackage, fixtureRecords, pipelineSpecFixture } from '@keel/testing';
import { type Producer } from 'kafkajs';
import pino from 'pino';
import { servingEnvSchema } from '../../../apps/serving/src/config';
import { InferenceController } from '../../../apps/serving/src/inference/inference.controller';
import { InferenceMetrics } from '../../../apps/serving/src/inference/inference-metrics';
import { InferenceService } from '../../../apps/serving/src/inference/inference.service';
import { PredictionLogService } from '../../../apps/serving/src/inference/prediction-log.service';
import { LoadedModel } from '../../../apps/serving/src/models/loaded-model';
import { ModelStore } from '../../../apps/serving/src/models/model-store';
import { HOT_PATH_MODEL } from './hot-path-model';

/** An Adult package whose model is a 100-tree GBDT on category codes, like the pipeline's usual champion. */
export function adultGbdtPackage() {
  const spec = pipelineSpecFixture('adult-income', { id: HOT_PATH_MODEL });
  const rows = fixtureRecords('adult', { count: 5_000, numeric: spec }) as Record<string, Scalar>[];
  const pkg = binaryTestPackage(spec, rows, { codeVersion: 'bench' });
  const cell = (value: Scalar | undefined) => (typeof value === 'boolean' ? String(value) : (value ?? null));
  const columns = Object.fromEntries(
    spec.features.map((feature) => [feature.name, rows.map((row) => cell(row[feature.name]))]),
  );
  const fitted = fitTransform(
    columns,
    spec.features.map((f) =>
      f.type === 'numeric'
        ? { name: f.name, kind: 'numeric' as const, impute: 'none' as const }
        : { name: f.name, kind: 'categorical' as const, encoding: 'code' as const, unknown: 'missing' as const },
    ),
  );
  const labels = rows.map((row) => (String(row[spec.target.column]) === String(spec.target.positive) ? 1 : 0));
  const { model } = trainGbdt(new TransformRunner(fitted).table(columns), labels, {
    objective: 'binary',
    maxIterations: 100,
    categoricalFeatures: fitted.categoricalFeatures,
    seed: 42,
  });
  pkg.model = createModelDocument({
    model,
    preprocessing: fitted,
    classes: [String(pkg.target.negative), String(pkg.target.positive)],
  });
  return pkg;
}

async function main(): Promise<void> {
  const port = Number(process.argv[2] ?? 18_011);
  const config = servingEnvSchema.parse({ ...process.env, SERVICE_NAME: 'serving' });
  const identity: ServiceIdentity = { name: 'serving', version: 'bench' } as ServiceIdentity;
  const logger = pino({ level: 'warn' });
  const store = new ModelStore();
  store.add(
    LoadedModel.build(HOT_PATH_MODEL, adultGbdtPackage(), {
      version: 1,
      packageUri: 's3://keel-models/bench/hot-path.json',
      packageSha256: '0'.repeat(64),
    }),
  );
  store.bind(HOT_PATH_MODEL, 'champion', 1);
  store.markInitialSyncDone();
  // The real publisher (contract check, CloudEvent headers, JSON) over a producer whose send is the only fake.
  const producer = { send: async () => [] } as unknown as Producer;
  const infra = { publisher: new EventPublisher(producer, '/keel/serving') } as unknown as Infrastructure;
  const metrics = new InferenceMetrics(new MetricsService(identity));
  const predictionLog = new PredictionLogService(infra, metrics, config, logger);
  const inference = new InferenceService(store, metrics, predictionLog, config);
  const server = new Server({ 'grpc.max_receive_message_length': 64 * 1024 * 1024 });
  const grpc: Pick<GrpcServer, 'addService'> = {
    // As GrpcServer adds services (authentication off, as in the open dev profile).
    addService: (_name, definition, implementation) =>
      server.addService(tolerantDeserializers(definition), answerMalformedRequests(definition, implementation)),
  };
  new InferenceController(grpc as GrpcServer, inference, metrics, identity, logger, config).onModuleInit();
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${port}`, ServerCredentials.createInsecure(), (error) =>
      error ? reject(error) : resolve(),
    ),
  );
  process.stdout.write(`hot-path server on 127.0.0.1:${port} (${PredictionLoggedV2.topic} faked)\n`);
  const profile = await startProfile(process.env.HOT_PATH_PROFILE);
  const stop = () =>
    server.tryShutdown(() => {
      void profile()
        .then(() => predictionLog.beforeApplicationShutdown())
        .then(() => telemetry.shutdown())
        .finally(() => process.exit(0));
    });
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

/**
 * A CPU profile of the serving period only (start-up and training left out), written to `path` at shutdown; a no-op
 * without a path.
 */
async function startProfile(path: string | undefined): Promise<() => Promise<void>> {
  if (!path) return async () => undefined;
  const session = new Session();
  session.connect();
  const post = (method: string, params?: object) =>
    new Promise<unknown>((resolve, reject) =>
      session.post(method, params, (error, result) => (error ? reject(error) : resolve(result))),
    );
  await post('Profiler.enable');
  await post('Profiler.setSamplingInterval', { interval: 500 });
  await post('Profiler.start');
  return async () => {
    const { profile } = (await post('Profiler.stop')) as { profile: object };
    writeFileSync(path, JSON.stringify(profile));
    session.disconnect();
  };
}

if (require.main === module) {
  main().catch((error: unknown) => {
    process.stderr.write(`hot-path server failed: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  });
}
