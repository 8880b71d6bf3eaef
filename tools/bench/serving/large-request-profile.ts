/**
 * Where serving's event loop goes for the largest legal requests (issue 13's 100 ms bound): a 1 MiB REST JSON infer
 * body and a 10,000-row gRPC ModelInfer, each through serving's own decoders, InferenceService (adaptive batcher,
 * prediction log with the real publisher's contract check and JSON, only Kafka's send faked) and encoders, in one
 * process and without the stack. Prints each stage's CPU time and the longest stretch the loop was held (the largest gap
 * between ticks of a 1 ms timer, measured while the request and its prediction log run). Run with --cpu-prof for
 * the profile.
 *
 *   node [--cpu-prof] -r @swc-node/register tools/bench/serving/large-request-profile.ts [repeats]
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { checkJsonDepth, PredictionLoggedV2 } from '@keel/contracts';
import { decodeModelInferRequest, encodeModelInferResponse, ModelInferRequest } from '@keel/grpc-api';
import { EventPublisher } from '@keel/messaging';
import { type Infrastructure, MetricsService, type ServiceIdentity } from '@keel/service-runtime';
import { columnTensors, fixtureRecords, pipelineSpecFixture } from '@keel/testing';
import { type Producer } from 'kafkajs';
import pino from 'pino';
import { servingEnvSchema } from '../../../apps/serving/src/config';
import { InferenceMetrics } from '../../../apps/serving/src/inference/inference-metrics';
import { InferenceService } from '../../../apps/serving/src/inference/inference.service';
import { PredictionLogService } from '../../../apps/serving/src/inference/prediction-log.service';
import { decodeRestInferRequest, encodeRestInferResponse } from '../../../apps/serving/src/inference/rest/rest-codec';
import { LoadedModel } from '../../../apps/serving/src/models/loaded-model';
import { ModelStore } from '../../../apps/serving/src/models/model-store';
import { HOT_PATH_MODEL } from './hot-path-model';
import { adultGbdtPackage } from './hot-path-server';

const HTTP_MAX_JSON_BYTES = 1024 * 1024;
const MAX_ROWS = 10_000;

/** The main thread's CPU time, ms (on a shared machine wall time also counts waiting for a core). */
const threadCpuMs = () => {
  const { user, system } = process.threadCpuUsage();
  return (user + system) / 1000;
};

/**
 * The longest gap between ticks of a 1 ms timer while `run` runs (how long the loop was held at most), in wall time
 * and in the main thread's CPU time.
 */
async function longestHold(run: () => Promise<void>): Promise<{ wallMs: number; cpuMs: number }> {
  let last = performance.now();
  let lastCpu = threadCpuMs();
  const worst = { wallMs: 0, cpuMs: 0 };
  const timer = setInterval(() => {
    const now = performance.now();
    const cpu = threadCpuMs();
    worst.wallMs = Math.max(worst.wallMs, now - last);
    worst.cpuMs = Math.max(worst.cpuMs, cpu - lastCpu);
    last = now;
    lastCpu = cpu;
  }, 1);
  await sleep(5);
  last = performance.now();
  lastCpu = threadCpuMs();
  await run();
  // The prediction log publishes after its delay (PREDICTION_LOG_BATCH_MAX_DELAY_MS): wait it out.
  await sleep(400);
  clearInterval(timer);
  return worst;
}

function restBody(rowsWanted: number): string {
  const spec = pipelineSpecFixture('adult-income', { id: HOT_PATH_MODEL });
  let records = fixtureRecords('adult', { count: rowsWanted });
  const body = (rows: typeof records) =>
    JSON.stringify({
      id: 'large',
      inputs: spec.features.map((feature) => ({
        name: feature.name,
        shape: [rows.length],
        datatype: feature.type === 'numeric' ? 'FP64' : 'BYTES',
        data: rows.map((row) =>
          feature.type === 'numeric' ? Number(row[feature.name] ?? NaN) : String(row[feature.name] ?? ''),
        ),
      })),
    });
  while (body(records).length > HTTP_MAX_JSON_BYTES) records = records.slice(0, Math.floor(records.length * 0.98));
  return body(records);
}

function grpcBody(rows: number): Buffer {
  const spec = pipelineSpecFixture('adult-income', { id: HOT_PATH_MODEL });
  const records = fixtureRecords('adult', { count: rows, numeric: spec });
  return Buffer.from(
    ModelInferRequest.encode(
      ModelInferRequest.fromPartial({ modelName: HOT_PATH_MODEL, inputs: columnTensors(spec, records) }),
    ).finish(),
  );
}

async function main(): Promise<void> {
  const repeats = Number(process.argv[2] ?? 5);
  const config = servingEnvSchema.parse({ ...process.env, SERVICE_NAME: 'serving' });
  const identity = { name: 'serving', version: 'bench' } as ServiceIdentity;
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
  let published = 0;
  const producer = {
    send: async () => {
      published++;
      return [];
    },
  } as unknown as Producer;
  const infra = { publisher: new EventPublisher(producer, '/keel/serving') } as unknown as Infrastructure;
  const metrics = new InferenceMetrics(new MetricsService(identity));
  const predictionLog = new PredictionLogService(infra, metrics, config, pino({ level: 'warn' }));
  const inference = new InferenceService(store, metrics, predictionLog, config);

  const rest = restBody(MAX_ROWS);
  const grpc = grpcBody(MAX_ROWS);
  process.stdout.write(
    `REST body ${rest.length} bytes; gRPC message ${grpc.length} bytes; ${PredictionLoggedV2.topic} faked\n`,
  );
  const stages = new Map<string, number[]>();
  // Stages in the main thread's CPU time: the machine is shared, and wall time would count waiting for a core.
  const time = <T>(stage: string, run: () => T): T => {
    const started = threadCpuMs();
    const value = run();
    const list = stages.get(stage) ?? [];
    list.push(threadCpuMs() - started);
    stages.set(stage, list);
    return value;
  };
  const timeAsync = async <T>(stage: string, run: () => Promise<T>): Promise<T> => {
    const started = threadCpuMs();
    const value = await run();
    const list = stages.get(stage) ?? [];
    list.push(threadCpuMs() - started);
    stages.set(stage, list);
    return value;
  };
  const holds: Record<string, { wallMs: number; cpuMs: number }[]> = { rest: [], grpc: [] };
  for (let repeat = 0; repeat < repeats; repeat++) {
    holds.rest.push(
      await longestHold(async () => {
        const bytes = Buffer.from(rest);
        time('rest: depth check', () => checkJsonDepth(bytes));
        const body = time('rest: JSON.parse', () => JSON.parse(bytes.toString('utf8')) as unknown);
        const decoded = time('rest: decodeRestInferRequest', () =>
          decodeRestInferRequest(body, { modelName: HOT_PATH_MODEL, modelVersion: '' }),
        );
        const response = await timeAsync('rest: infer', () => inference.infer(decoded.request));
        const answer = time('rest: encodeRestInferResponse', () =>
          encodeRestInferResponse(response, decoded.binaryOutputs),
        );
        time('rest: JSON.stringify', () => JSON.stringify(answer.json));
      }),
    );
    holds.grpc.push(
      await longestHold(async () => {
        const request = time('grpc: decodeModelInferRequest', () => decodeModelInferRequest(grpc));
        const response = await timeAsync('grpc: infer', () => inference.infer(request));
        time('grpc: encodeModelInferResponse', () => encodeModelInferResponse(response));
      }),
    );
  }
  for (const [stage, values] of stages) {
    process.stdout.write(`${stage.padEnd(34)} ${values.map((v) => v.toFixed(1)).join(' ')} ms\n`);
  }
  for (const [name, values] of Object.entries(holds)) {
    const text = values.map((v) => `${v.wallMs.toFixed(1)} (CPU ${v.cpuMs.toFixed(1)})`).join(' ');
    process.stdout.write(`${`${name}: longest hold`.padEnd(34)} ${text} ms\n`);
  }
  process.stdout.write(`prediction-log batches published: ${published}\n`);
  await predictionLog.beforeApplicationShutdown();
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
