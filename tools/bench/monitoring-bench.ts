/**
 * Monitoring alone, replaying a recorded prediction log: v2 prediction-log events (Adult rows as serving logs them,
 * BENCH_ROWS_PER_EVENT rows per event, the second half with age + 30 so windows drift) are published to
 * mlops.predictions.logged.v2 first; then a monitoring instance (in this process, its own consumer group placed at
 * the start of the recording, its own database) works the backlog off. Timed from its start to the moment its latest
 * checkpoints count every row, with every window reported. Reports rows/s, the CPU of the monitoring process (all its
 * threads) per 1,000 rows, the CPU the stack's servers spent meanwhile, and the database writes (insert, update,
 * delete commands seen by the driver) and object writes per 1,000 rows. One scenario per window size
 * (BENCH_WINDOW_ROWS, comma-separated). Writes docs/benchmarks/monitoring.json and docs/benchmarks/monitoring.md.
 *
 *   npm run bench:monitoring                                   # 500,000 rows; windows of 10,000, 2,000 and 500 rows
 *   BENCH_ROWS=100000 BENCH_WINDOW_ROWS=5000 npm run bench:monitoring
 *   BENCH_RENDER_ONLY=1 node -r @swc-node/register tools/bench/monitoring-bench.ts   # monitoring.md from the JSONs
 */
import { execSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { encodeCloudEventHeaders, PredictionLoggedV2, type Scalar } from '@keel/contracts';
import { createProducer, ensureTopics } from '@keel/messaging';
import { serializePackage } from '@keel/model-package';
import { PipelineStore } from '@keel/pipelines';
import { BUCKETS, ObjectStore } from '@keel/storage';
import {
  fixtureRecords,
  mongoUrlForDatabase,
  pipelineSpecFixture,
  stackEndpoints,
  stackKafka,
  startGroupAtTopicEnd,
  uniqueName,
  uniquePipelineId,
} from '@keel/testing';
import { type CommandFailedEvent, type CommandStartedEvent, MongoClient } from 'mongodb';
import mongoose from 'mongoose';
import { CheckpointRepository } from '../../apps/monitoring/src/stream/checkpoint.repository';
import { PredictionStreamConsumer } from '../../apps/monitoring/src/stream/prediction-stream.consumer';
import { StreamMetrics } from '../../apps/monitoring/src/stream/stream.metrics';
import {
  adultBatch,
  adultPackage,
  MONITORING_CONSUMERS,
  startMonitoringUnderTest,
} from '../../apps/monitoring/src/test-support/monitoring-under-test';
import { repoRoot } from '../stack/paths';
import { FULL_JSON, fullSystem, type FullSystemResult } from './monitoring-full';
import { type HotPathResult } from './monitoring-hot-path';

const ROWS = Number(process.env.BENCH_ROWS ?? 500_000);
const ROWS_PER_EVENT = Number(process.env.BENCH_ROWS_PER_EVENT ?? 1_000);
const WINDOW_SIZES = (process.env.BENCH_WINDOW_ROWS ?? '10000,2000,500').split(',').map(Number);
/** The pipeline spec's default window (monitoring.windowRows), what a pipeline gets unless it says otherwise. */
const DEFAULT_WINDOW_ROWS = 500;
const CHECKPOINT_INTERVAL_MS = Number(process.env.BENCH_CHECKPOINT_INTERVAL_MS ?? 1_000);
const MODEL_NAME = 'bench-model';
const DATABASE = 'keel_bench_monitoring';
const WRITE_COMMANDS = new Set(['insert', 'update', 'delete', 'findAndModify']);
/** What the prediction stream itself writes: closed windows and checkpoints (the rest reacts to drift.detected). */
const STREAM_COLLECTIONS = new Set(['drift_windows', 'monitoring_checkpoints']);
/** BENCH_STACK=0: only the hot-path figures (no stack at hand). */
const WITH_STACK = process.env.BENCH_STACK !== '0';
const HOT_PATH_JSON = join(repoRoot, 'docs', 'benchmarks', 'monitoring-hot-path.json');

type Row = Record<string, Scalar>;

interface ScenarioResult {
  /** When and on which commit this row was measured (rows of earlier runs are kept when a run measures fewer sizes). */
  run?: string;
  windowRows: number;
  rows: number;
  events: number;
  eventBytes: number;
  seconds: number;
  rowsPerSecond: number;
  /** From the service's start to its being up (Nest boot, drift worker warm-up, consumer group join). */
  startupSeconds: number;
  /** Rows it had applied by then, and the rate over the rest: the steady rate, start-up excluded. */
  rowsAtReady: number;
  rowsPerSecondFromReady: number;
  cpuMsPer1000Rows: number;
  serverCpuMsPer1000Rows: Record<string, number>;
  /** Insert, update and delete commands the driver sent (retries included). */
  dbWrites: number;
  dbWritesPer1000Rows: number;
  /** Documents monitoring wrote by design: one per checkpoint, one per closed window. */
  documentsWrittenPer1000Rows: number;
  /** Write commands on the stream's own collections (drift_windows, monitoring_checkpoints). */
  streamDbWrites: number;
  /** …per closed window or checkpoint (the target: at most 1). */
  streamDbWritesPerWindowOrCheckpoint: number;
  dbWriteCommands: Record<string, number>;
  dbWriteCommandsByCollection: Record<string, number>;
  /** Write commands that failed (each retry of them is another command), by error code. */
  dbWriteCommandsFailed: Record<string, number>;
  objectWrites: number;
  objectWritesPer1000Rows: number;
  checkpoints: number;
  windows: number;
}

/** CPU time (ms) of the stack's servers, from /proc, by the name their command line shows. */
function serverCpuMs(): Record<string, number> {
  const clockTicks = 100;
  const totals: Record<string, number> = {};
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      const server = cmdline.includes('ferretdb')
        ? 'ferretdb'
        : cmdline.includes('minio') && !cmdline.includes('node')
          ? 'minio'
          : cmdline.includes('kafka.Kafka')
            ? 'kafka'
            : undefined;
      if (!server) continue;
      const fields = readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1].split(' ');
      totals[server] = (totals[server] ?? 0) + ((Number(fields[11]) + Number(fields[12])) * 1_000) / clockTicks;
    } catch {
      // The process ended between the listing and the read.
    }
  }
  return totals;
}

/** The recorded log: Adult rows as v2 events, serialized once as serving would send them. */
function recording(pipelineId: string, rows: readonly Row[]): { value: string; key: string; id: string }[] {
  const events: { value: string; key: string; id: string }[] = [];
  for (let start = 0, e = 0; start < ROWS; start += ROWS_PER_EVENT, e++) {
    const slice = Array.from({ length: Math.min(ROWS_PER_EVENT, ROWS - start) }, (_, i) => {
      const row = rows[(start + i) % rows.length];
      return start + i < ROWS / 2 ? row : { ...row, age: Number(row.age) + 30 };
    });
    const batch = adultBatch(slice, {
      pipelineId,
      modelName: MODEL_NAME,
      modelVersion: 1,
      batchId: `${pipelineId}-${e}`,
      servedAt: 1_800_000_000_000 + start,
    });
    PredictionLoggedV2.schema.parse(batch);
    events.push({ value: JSON.stringify(batch), key: pipelineId, id: `bench-${pipelineId}-${e}` });
  }
  return events;
}

async function scenario(windowRows: number, rows: readonly Row[], reference: readonly Row[]): Promise<ScenarioResult> {
  const spec = pipelineSpecFixture('adult-income', {
    id: uniquePipelineId('bench-mon'),
    monitoring: { windowRows, psiThreshold: 0.2 },
  });
  const name = uniqueName('bench-monitoring');
  const kafka = stackKafka(`${name}-setup`);
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin);
  for (const [suffix, contracts] of Object.entries(MONITORING_CONSUMERS)) {
    await startGroupAtTopicEnd(
      admin,
      `${name}.${suffix}`,
      contracts.map((contract) => contract.topic),
    );
  }
  await admin.disconnect();

  const events = recording(spec.id, rows);
  const eventBytes = events.reduce((sum, event) => sum + event.value.length, 0);
  const producer = createProducer(kafka);
  await producer.connect();
  const publishStarted = Date.now();
  // One event per request: a request's record batch must stay under the broker's message size (1 MiB).
  for (const event of events) {
    await producer.send({
      topic: PredictionLoggedV2.topic,
      messages: [
        {
          key: event.key,
          value: event.value,
          headers: encodeCloudEventHeaders({
            id: event.id,
            source: '/keel/bench',
            type: PredictionLoggedV2.topic,
            specversion: '1.0',
          }),
        },
      ],
    });
  }
  await producer.disconnect();
  console.log(
    `windows of ${windowRows}: recorded ${events.length} events (${ROWS} rows, ${(eventBytes / 1e6).toFixed(1)} MB) in ${((Date.now() - publishStarted) / 1_000).toFixed(1)} s`,
  );

  // The spec and the package are in place before monitoring starts, as they are when serving logs predictions.
  const objects = new ObjectStore(stackEndpoints.s3);
  const pkg = adultPackage(spec, reference, { modelName: MODEL_NAME, codeVersion: 'bench' });
  const stored = await objects.putContentAddressed(BUCKETS.models, `${spec.id}/packages`, serializePackage(pkg), {
    extension: '.json',
  });
  const packageRef = { packageUri: stored.uri, packageSha256: stored.sha256 };
  const connection = await mongoose.createConnection(mongoUrlForDatabase(DATABASE)).asPromise();
  try {
    const pipelines = new PipelineStore(connection);
    await pipelines.init();
    await pipelines.apply(spec);
  } finally {
    await connection.close();
  }

  const writes: Record<string, number> = {};
  /** Write commands by `<command> <collection>`, so each one is accounted for. */
  const writesByCollection: Record<string, number> = {};
  const failedWrites: Record<string, number> = {};
  // The service's client is created (and starts writing) during its start-up, before it is handed back: its command
  // events are taken at the source, from the moment it exists.
  const emit = MongoClient.prototype.emit;
  let readyAt = 0;
  let rowsAtReady = 0;
  MongoClient.prototype.emit = function (this: MongoClient, name: string | symbol, ...args: unknown[]) {
    if (this.options.dbName === DATABASE && (name === 'commandStarted' || name === 'commandFailed')) {
      const event = args[0] as CommandStartedEvent & CommandFailedEvent;
      if (WRITE_COMMANDS.has(event.commandName)) {
        if (name === 'commandStarted') {
          writes[event.commandName] = (writes[event.commandName] ?? 0) + 1;
          const what = `${event.commandName} ${String(event.command[event.commandName])}`;
          writesByCollection[what] = (writesByCollection[what] ?? 0) + 1;
        } else {
          const failure = event.failure as { code?: number; message: string };
          const what = `${event.commandName}: ${String(failure.code ?? failure.message.slice(0, 60))}`;
          failedWrites[what] = (failedWrites[what] ?? 0) + 1;
        }
      }
    }
    return (emit as (this: MongoClient, ...all: unknown[]) => boolean).call(this, name, ...args);
  } as typeof emit;
  const cpuBefore = process.cpuUsage();
  const serversBefore = serverCpuMs();
  const started = performance.now();
  const service = await startMonitoringUnderTest({
    name,
    database: DATABASE,
    fromCommitted: true,
    locator: { locate: async () => packageRef },
    env: {
      LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'silent',
      MONGO_URL: `${mongoUrlForDatabase(DATABASE)}${mongoUrlForDatabase(DATABASE).includes('?') ? '&' : '?'}monitorCommands=true`,
      PREDICTION_CHECKPOINT_INTERVAL_MS: String(CHECKPOINT_INTERVAL_MS),
    },
  });
  let objectWrites = 0;
  const serviceObjects = service.infra.objects;
  const put = serviceObjects.put.bind(serviceObjects);
  serviceObjects.put = async (...args: Parameters<ObjectStore['put']>) => {
    objectWrites++;
    return put(...args);
  };
  readyAt = performance.now();
  rowsAtReady = (await service.app.get(StreamMetrics).rows.get()).values[0]?.value ?? 0;
  try {
    const checkpoints = service.app.get(CheckpointRepository);
    const group = service.app.get(PredictionStreamConsumer).group;
    const windows = service.infra.mongo.collection('drift_windows');
    const expectedWindows = Math.floor(ROWS / windowRows);
    let lastPrint = 0;
    for (;;) {
      const counted = await checkpoints.rowsLogged(group, spec.id);
      if (counted === ROWS) {
        const reported = await windows.countDocuments({ pipelineId: spec.id });
        if (reported >= expectedWindows) break;
      }
      if (performance.now() - lastPrint > 5_000) {
        lastPrint = performance.now();
        console.log(`  ${((performance.now() - started) / 1_000).toFixed(1)} s: ${counted} rows checkpointed`);
      }
      if (performance.now() - started > 30 * 60_000) throw new Error(`timed out at ${counted} rows`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const seconds = (performance.now() - started) / 1_000;
    const cpu = process.cpuUsage(cpuBefore);
    const serversAfter = serverCpuMs();
    const perThousand = (n: number) => Math.round((n / ROWS) * 1_000 * 1_000) / 1_000;
    const dbWrites = Object.values(writes).reduce((sum, n) => sum + n, 0);
    const result: ScenarioResult = {
      windowRows,
      rows: ROWS,
      events: events.length,
      eventBytes,
      seconds: Math.round(seconds * 100) / 100,
      rowsPerSecond: Math.round(ROWS / seconds),
      startupSeconds: Math.round((readyAt - started) / 10) / 100,
      rowsAtReady,
      rowsPerSecondFromReady: Math.round((ROWS - rowsAtReady) / ((performance.now() - readyAt) / 1_000)),
      cpuMsPer1000Rows: perThousand((cpu.user + cpu.system) / 1_000),
      serverCpuMsPer1000Rows: Object.fromEntries(
        Object.entries(serversAfter).map(([server, ms]) => [server, perThousand(ms - (serversBefore[server] ?? 0))]),
      ),
      dbWrites,
      dbWritesPer1000Rows: perThousand(dbWrites),
      documentsWrittenPer1000Rows: 0,
      streamDbWrites: 0,
      streamDbWritesPerWindowOrCheckpoint: 0,
      dbWriteCommands: { ...writes },
      dbWriteCommandsByCollection: { ...writesByCollection },
      dbWriteCommandsFailed: { ...failedWrites },
      objectWrites,
      objectWritesPer1000Rows: perThousand(objectWrites),
      checkpoints: await service.infra.mongo.collection('monitoring_checkpoints').countDocuments({ group }),
      windows: await windows.countDocuments({ pipelineId: spec.id }),
    };
    result.documentsWrittenPer1000Rows = perThousand(result.checkpoints + result.windows);
    result.streamDbWrites = Object.entries(result.dbWriteCommandsByCollection)
      .filter(([what]) => STREAM_COLLECTIONS.has(what.split(' ')[1]))
      .reduce((sum, [, n]) => sum + n, 0);
    result.streamDbWritesPerWindowOrCheckpoint =
      Math.round((result.streamDbWrites / (result.windows + result.checkpoints)) * 1_000) / 1_000;
    console.log(result);
    return result;
  } finally {
    await service.close();
    MongoClient.prototype.emit = emit;
  }
}

function fullSystemSection(): string[] {
  if (!existsSync(FULL_JSON)) return [];
  const full = JSON.parse(readFileSync(FULL_JSON, 'utf8')) as FullSystemResult;
  return [
    '## The full system under serving’s maximum load',
    '',
    `\`tools/bench/monitoring-full.ts\` (run last by \`npm run bench:monitoring\`, \`BENCH_FULL=0\` skips it; latest ${full.startedAt}, ` +
      `load average ${full.loadBefore.toFixed(1)} before, ${full.loadAfter.toFixed(1)} after): the Adult pipeline trained on the stack ` +
      `(windows of ${full.windowRows.toLocaleString('en')} rows), then ghz (serving's bench tooling) sends ${full.concurrency} concurrent ` +
      `${full.rowsPerRequest}-row ModelInfer calls for ${full.seconds} s to the running services, every prediction logged and ` +
      "monitored. Lag is monitoring's consumer group (committed offsets, which follow its checkpoints) against the " +
      "prediction log's end, over all partitions, sampled every 200 ms; back to zero means zero and staying zero for 3 s.",
    '',
    '| load | requests/s | rows/s | p50 / p99 | log records | max lag (records) | lag at the load’s end | lag back to zero after the load | CPU s (serving, monitoring) |',
    '| ---- | ---------- | ------ | --------- | ----------- | ----------------- | --------------------- | ------------------------------- | --------------------------- |',
    `| ${full.seconds} s × ${full.concurrency} × ${full.rowsPerRequest} rows | ${full.requestsPerSecond.toLocaleString('en')} | ` +
      `${full.rowsPerSecond.toLocaleString('en')} | ${full.p50Ms.toFixed(1)} / ${full.p99Ms.toFixed(1)} ms | ${full.logRecords.toLocaleString('en')} | ` +
      `${full.maxLagRecords} | ${full.lagAtStopRecords} | **${full.lagZeroAfterSeconds.toFixed(1)} s** | ` +
      `${full.cpuSeconds.serving}, ${full.cpuSeconds.monitoring} |`,
    '',
  ];
}

function hotPathSection(): string[] {
  if (!existsSync(HOT_PATH_JSON)) return [];
  const hot = JSON.parse(readFileSync(HOT_PATH_JSON, 'utf8')) as {
    startedAt: string;
    node: string;
    results: HotPathResult[];
  };
  return [
    '## The hot path alone',
    '',
    `\`tools/bench/monitoring-hot-path.ts\` (run first by \`npm run bench:monitoring\`; latest ${hot.startedAt}, Node ${hot.node}): ` +
      'the same recorded events decoded, validated against the contract, applied to a partition state, archived ' +
      '(gzip + id filter; object store faked) and snapshotted every 50,000 rows, on one thread, no Kafka, database ' +
      'or object store. Evaluation is the drift worker task for one closed window, timed on the same thread.',
    '',
    '| window rows | rows | rows/s | CPU per 1,000 rows | windows closed | evaluation per window | archive bytes per row |',
    '| ----------- | ---- | ------ | ------------------ | -------------- | --------------------- | --------------------- |',
    ...hot.results.map(
      (r) =>
        `| ${r.windowRows.toLocaleString('en')} | ${r.rows.toLocaleString('en')} | ${r.rowsPerSecond.toLocaleString('en')} | ` +
        `${r.cpuMsPer1000Rows.toFixed(1)} ms | ${r.windowsClosed} | ${r.evaluationMsPerWindow.toFixed(1)} ms | ${r.archivedBytesPerRow} |`,
    ),
    '',
  ];
}

function markdown(
  results: readonly ScenarioResult[],
  startedAt: string,
  loadAtEnd = loadavg()[0],
  node = process.version,
): string {
  // Rows can be rerun one window size at a time and merged into the JSON; the run column then says which is which.
  const runs = new Set(results.map((r) => r.run));
  const rows = results.map(
    (r) =>
      `| ${r.windowRows.toLocaleString('en')}${r.windowRows === DEFAULT_WINDOW_ROWS ? ' (default)' : ''} | ${r.run ?? ''} | ${r.rows.toLocaleString('en')} | ${r.seconds.toFixed(1)} s | ` +
      `${r.rowsPerSecond.toLocaleString('en')} | ${r.startupSeconds.toFixed(1)} s | **${r.rowsPerSecondFromReady.toLocaleString('en')}** | ` +
      `${r.cpuMsPer1000Rows.toFixed(1)} ms | ` +
      `${Object.entries(r.serverCpuMsPer1000Rows)
        .map(([server, ms]) => `${server} ${ms.toFixed(1)}`)
        .join(
          ', ',
        )} | ${r.dbWritesPer1000Rows.toFixed(3)} (${r.dbWrites}; ${Object.values(r.dbWriteCommandsFailed).reduce((a, b) => a + b, 0)} failed) | ` +
      `${r.documentsWrittenPer1000Rows.toFixed(3)} | **${r.streamDbWritesPerWindowOrCheckpoint.toFixed(3)}** (${r.streamDbWrites}) | ` +
      `${r.objectWritesPer1000Rows.toFixed(3)} | ${r.checkpoints} | ${r.windows} |`,
  );
  const stack =
    results.length === 0
      ? ['The stack run (Kafka, FerretDB, MinIO) was not part of this run (`BENCH_STACK=0`).', '']
      : [
          `Monitoring alone replays a recorded prediction log: ${results[0].rows.toLocaleString('en')} Adult rows as ` +
            `mlops.predictions.logged.v2 events of ${ROWS_PER_EVENT.toLocaleString('en')} rows (14 inputs, 2 outputs), ` +
            'published before monitoring starts; the second half has age + 30, so its windows drift. Timed from the ' +
            "service's start to the moment its checkpoints count every row and every window is reported. CPU is the " +
            'monitoring process (all threads, including the drift worker and the service start-up); the servers column ' +
            'is what Kafka, FerretDB and MinIO spent meanwhile. DB write commands are every insert/update/delete ' +
            "command the service's MongoDB client sent, taken at the source from the client's creation (so start-up " +
            'writes count too; the JSON lists them by collection, and the failed ones, each retry of which is another ' +
            'command); documents written are the checkpoints and closed windows monitoring stored. ' +
            `Object writes are checkpoint states and archive files. Checkpoint interval ${CHECKPOINT_INTERVAL_MS} ms. ` +
            `Window rows is the pipeline's \`monitoring.windowRows\`; ${DEFAULT_WINDOW_ROWS} (default) is what a pipeline ` +
            'gets unless its spec says otherwise. Windows closed are reported in groups (one evaluation task, one ' +
            'drift.detected produce request and one insert per group), so small windows cost few writes: the stream ' +
            "column counts the write commands on the stream's own collections (drift_windows, monitoring_checkpoints) " +
            'per window or checkpoint stored. The other commands of the total are the retrain policy and alerts (in ' +
            'the same process) reacting to the drift.detected events of the drifting half (by collection in the JSON).',
          '',
          '| window rows | run (UTC, commit) | rows | time | rows/s (start-up included) | start-up | rows/s once up | monitoring CPU per 1,000 rows | servers CPU ms per 1,000 rows | DB write commands per 1,000 rows (total; failed) | documents written per 1,000 rows | stream write commands per window or checkpoint | object writes per 1,000 rows | checkpoints | windows |',
          '| ----------- | ----------------- | ---- | ---- | -------------------------- | -------- | -------------- | ----------------------------- | ----------------------------- | ------------------------------------------------ | -------------------------------- | ---------------------------------------------- | ---------------------------- | ----------- | ------- |',
          ...rows,
          '',
          ...(runs.size > 1
            ? [
                'The rows come from different runs (the run column): window sizes rerun alone, merged into the JSON.',
                '',
              ]
            : []),
        ];
  return [
    '# Monitoring throughput',
    '',
    `Latest run: ${startedAt} on ${cpus().length} × ${cpus()[0]?.model.trim() ?? 'CPU'}, Node ${node}, ` +
      `load average ${loadAtEnd.toFixed(1)} at the end (other sessions share the machine). Regenerate with ` +
      '`npm run bench:monitoring` (`BENCH_ROWS`, `BENCH_ROWS_PER_EVENT`, `BENCH_WINDOW_ROWS`, ' +
      '`BENCH_CHECKPOINT_INTERVAL_MS`, `BENCH_STACK=0` for the hot path alone).',
    '',
    ...stack,
    ...fullSystemSection(),
    ...hotPathSection(),
  ].join('\n');
}

async function main(): Promise<void> {
  if (process.env.BENCH_RENDER_ONLY === '1') {
    // monitoring.md again from monitoring.json and the full-system JSON (after running monitoring-full.ts alone).
    const json = JSON.parse(readFileSync(join(repoRoot, 'docs', 'benchmarks', 'monitoring.json'), 'utf8')) as {
      startedAt: string;
      node: string;
      loadAverageAtEnd: number;
      results: ScenarioResult[];
    };
    const rendered = markdown(json.results, json.startedAt, json.loadAverageAtEnd, json.node);
    writeFileSync(join(repoRoot, 'docs', 'benchmarks', 'monitoring.md'), rendered);
    return;
  }
  const startedAt = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const spec = pipelineSpecFixture('adult-income', { id: 'bench-mon-rows' });
  const all = fixtureRecords('adult', { count: 20_000, numeric: spec }) as Row[];
  const results: ScenarioResult[] = [];
  if (WITH_STACK) {
    for (const windowRows of WINDOW_SIZES) {
      const commit = execSync('git rev-parse --short HEAD', { cwd: repoRoot, encoding: 'utf8' }).trim();
      results.push({
        run: `${startedAt.slice(0, 16)}Z ${commit}`,
        ...(await scenario(windowRows, all.slice(2_000), all.slice(0, 2_000))),
      });
    }
  }
  if (WITH_STACK && process.env.BENCH_FULL !== '0') await fullSystem();
  const json = {
    startedAt,
    cpus: cpus().length,
    node: process.version,
    loadAverageAtEnd: loadavg()[0],
    rowsPerEvent: ROWS_PER_EVENT,
    results,
  };
  writeFileSync(join(repoRoot, 'docs', 'benchmarks', 'monitoring.json'), `${JSON.stringify(json, null, 2)}\n`);
  writeFileSync(join(repoRoot, 'docs', 'benchmarks', 'monitoring.md'), markdown(results, startedAt));
  console.log(markdown(results, startedAt));
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
