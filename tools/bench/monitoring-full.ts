/**
 * The full-system part of `npm run bench:monitoring`: serving under its maximum load for BENCH_FULL_SECONDS (60 s) of
 * 64-row ModelInfer calls from ghz at serving's bench concurrency (serving's own tooling, tools/bench/serving), with
 * every prediction logged and monitored by the running services; then how long monitoring's consumer lag (its
 * group's committed offsets against the prediction log's end, all partitions) takes to get back to zero after the load
 * stops. The Adult pipeline is trained on the stack first (windows of BENCH_FULL_WINDOW_ROWS rows). Starts the seven
 * services from this checkout when none run (and stops them again). Writes docs/benchmarks/monitoring-full.json;
 * monitoring-bench.ts renders it into monitoring.md. Needs the stack (run it under the stack lock).
 */
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PredictionLoggedV2, type Scalar } from '@keel/contracts';
import { ModelInferRequest } from '@keel/grpc-api';
import { createKafka, createProducer, silentLogger } from '@keel/messaging';
import {
  columnTensors,
  fixtureCsv,
  fixtureRecords,
  InferenceClient,
  pipelineSpecFixture,
  publishUpstreamRecords,
  stackEndpoints,
  uniquePipelineId,
} from '@keel/testing';
import { type Admin } from 'kafkajs';
import { PREDICTION_STREAM_GROUP } from '../../apps/monitoring/src/stream/prediction-stream.consumer';
import { ensureServices, restoreServices } from '../chaos/service-guard';
import { applySpec, endpoints, waitForChampion, waitForServing } from '../demo/pipeline-client';
import { servicePid } from '../services/services';
import { cacheRoot, repoRoot } from '../stack/paths';
import { treeCpuSeconds } from './serving/cpu';
import { ensureGhz, runGhz } from './serving/ghz';

const SECONDS = Number(process.env.BENCH_FULL_SECONDS ?? 60);
const CONCURRENCY = Number(process.env.BENCH_SERVING_CONCURRENCY ?? 16);
const ROWS_PER_REQUEST = 64;
// The pipeline spec's default window: what a pipeline gets unless its spec says otherwise.
const WINDOW_ROWS = Number(process.env.BENCH_FULL_WINDOW_ROWS ?? 500);
const TRAINING_ROWS = 5_000;
/** Lag is sampled this often; "back to zero" is the first sample at zero after which it stays zero for SETTLED_MS. */
const SAMPLE_MS = 200;
const SETTLED_MS = 3_000;
const CATCH_UP_LIMIT_MS = 10 * 60_000;
export const FULL_JSON = join(repoRoot, 'docs', 'benchmarks', 'monitoring-full.json');

export interface FullSystemResult {
  startedAt: string;
  cpus: number;
  node: string;
  loadBefore: number;
  loadAfter: number;
  seconds: number;
  concurrency: number;
  rowsPerRequest: number;
  windowRows: number;
  requests: number;
  errors: number;
  requestsPerSecond: number;
  rowsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Largest lag (records) sampled while the load ran, and when the load stopped. */
  maxLagRecords: number;
  lagAtStopRecords: number;
  /** Seconds from the load's end until monitoring's lag was zero (and stayed zero). */
  lagZeroAfterSeconds: number;
  /** Prediction-log records (events) and rows produced during the run. */
  logRecords: number;
  cpuSeconds: { serving: number; monitoring: number };
}

function log(message: string): void {
  console.log(`[bench:monitoring full] ${message}`);
}

/** The groups of the running monitoring replicas' prediction streams: `<instance>.prediction-windows`, with members. */
async function streamGroups(admin: Admin): Promise<string[]> {
  const { groups } = await admin.listGroups();
  const candidates = groups.map((group) => group.groupId).filter((id) => id.endsWith(`.${PREDICTION_STREAM_GROUP}`));
  if (candidates.length === 0) return [];
  const described = await admin.describeGroups(candidates);
  return described.groups.filter((group) => group.members.length > 0).map((group) => group.groupId);
}

/** Records behind the log's end over every partition, by the groups' committed offsets. */
async function lag(admin: Admin, groups: readonly string[]): Promise<{ lag: number; end: number }> {
  const ends = await admin.fetchTopicOffsets(PredictionLoggedV2.topic);
  const endOf = new Map(ends.map((entry) => [entry.partition, Number(entry.high)]));
  let total = 0;
  for (const groupId of groups) {
    const [committed] = await admin.fetchOffsets({ groupId, topics: [PredictionLoggedV2.topic] });
    for (const { partition, offset } of committed.partitions) {
      const end = endOf.get(partition) ?? 0;
      total += Math.max(0, end - Math.max(0, Number(offset)));
    }
  }
  return { lag: total, end: [...endOf.values()].reduce((sum, n) => sum + n, 0) };
}

export async function fullSystem(): Promise<FullSystemResult> {
  const loadBefore = loadavg()[0];
  const found = await ensureServices(log);
  const kafka = createKafka({
    clientId: 'keel-bench-monitoring-full',
    brokers: stackEndpoints.kafkaBrokers,
    logger: silentLogger,
  });
  const producer = createProducer(kafka);
  const admin = kafka.admin();
  try {
    await ensureGhz(log);
    await producer.connect();
    await admin.connect();
    const pipelineId = uniquePipelineId('bench-mon-full');
    const spec = pipelineSpecFixture('adult-income', {
      id: pipelineId,
      monitoring: { windowRows: WINDOW_ROWS, psiThreshold: 0.2 },
    });
    await applySpec(JSON.stringify(spec), pipelineId);
    const records: Record<string, Scalar>[] = fixtureRecords('adult', { count: TRAINING_ROWS, numeric: spec });
    await publishUpstreamRecords(producer, pipelineId, records, { source: 'bench-monitoring', batchSize: 1_000 });
    log(`${pipelineId}: ${records.length} records published; waiting for a champion`);
    const champion = await waitForChampion(pipelineId, 600_000);
    const client = new InferenceClient(endpoints.servingGrpc);
    try {
      await waitForServing(client, pipelineId, 120_000, champion.version);
    } finally {
      client.close();
    }
    const testFrom = fixtureCsv('adult').rows.findIndex((row) => row[row.length - 1] === 'test');
    const requestFile = join(cacheRoot, 'bench-monitoring-full-64.bin');
    const inputs = columnTensors(
      spec,
      fixtureRecords('adult', { count: ROWS_PER_REQUEST, from: testFrom, numeric: spec }),
    );
    writeFileSync(
      requestFile,
      ModelInferRequest.encode(ModelInferRequest.fromPartial({ modelName: pipelineId, inputs })).finish(),
    );

    const groups = await streamGroups(admin);
    if (groups.length === 0) throw new Error('no running monitoring replica consumes the prediction log');
    log(`monitoring's stream groups: ${groups.join(', ')}; warming up for 5 s`);
    await runGhz({ target: endpoints.servingGrpc, requestFile, concurrency: CONCURRENCY, seconds: 5 });
    for (const settled = Date.now(); Date.now() - settled < CATCH_UP_LIMIT_MS;) {
      if ((await lag(admin, groups)).lag === 0) break;
      await sleep(SAMPLE_MS);
    }

    const pids = { serving: servicePid('serving'), monitoring: servicePid('monitoring') };
    const cpu = () => ({
      serving: pids.serving ? treeCpuSeconds(pids.serving) : 0,
      monitoring: pids.monitoring ? treeCpuSeconds(pids.monitoring) : 0,
    });
    const cpuBefore = cpu();
    const endBefore = (await lag(admin, groups)).end;
    let maxLag = 0;
    let loadRunning = true;
    const sampling = (async () => {
      while (loadRunning) {
        maxLag = Math.max(maxLag, (await lag(admin, groups)).lag);
        await sleep(1_000);
      }
    })();
    log(`load: ${CONCURRENCY} concurrent 64-row ModelInfer calls for ${SECONDS} s`);
    const result = await runGhz({
      target: endpoints.servingGrpc,
      requestFile,
      concurrency: CONCURRENCY,
      seconds: SECONDS,
    });
    const stoppedAt = performance.now();
    loadRunning = false;
    await sampling;
    const atStop = await lag(admin, groups);
    maxLag = Math.max(maxLag, atStop.lag);
    log(`load stopped: ${Math.round(result.rps * ROWS_PER_REQUEST)} rows/s; lag ${atStop.lag} records`);
    let zeroSince: number | undefined;
    for (;;) {
      const now = performance.now();
      if (now - stoppedAt > CATCH_UP_LIMIT_MS) throw new Error('monitoring did not catch up within 10 minutes');
      const { lag: current } = await lag(admin, groups);
      if (current > 0) zeroSince = undefined;
      else zeroSince ??= now;
      if (zeroSince !== undefined && now - zeroSince >= SETTLED_MS) break;
      await sleep(SAMPLE_MS);
    }
    const lagZeroAfterSeconds = Math.max(0, (zeroSince! - stoppedAt) / 1_000);
    const cpuAfter = cpu();
    const endAfter = (await lag(admin, groups)).end;
    const full: FullSystemResult = {
      startedAt: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      cpus: cpus().length,
      node: process.version,
      loadBefore,
      loadAfter: loadavg()[0],
      seconds: SECONDS,
      concurrency: CONCURRENCY,
      rowsPerRequest: ROWS_PER_REQUEST,
      windowRows: WINDOW_ROWS,
      requests: result.count,
      errors: result.errors,
      requestsPerSecond: Math.round(result.rps),
      rowsPerSecond: Math.round(result.rps * ROWS_PER_REQUEST),
      p50Ms: result.p50Ms,
      p99Ms: result.p99Ms,
      maxLagRecords: maxLag,
      lagAtStopRecords: atStop.lag,
      lagZeroAfterSeconds: Math.round(lagZeroAfterSeconds * 10) / 10,
      logRecords: endAfter - endBefore,
      cpuSeconds: {
        serving: Math.round((cpuAfter.serving - cpuBefore.serving) * 10) / 10,
        monitoring: Math.round((cpuAfter.monitoring - cpuBefore.monitoring) * 10) / 10,
      },
    };
    log(JSON.stringify(full));
    writeFileSync(FULL_JSON, `${JSON.stringify(full, null, 2)}\n`);
    return full;
  } finally {
    await admin.disconnect().catch(() => undefined);
    await producer.disconnect().catch(() => undefined);
    await restoreServices(found);
  }
}

if (require.main === module) {
  fullSystem().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
