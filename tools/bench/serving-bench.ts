/**
 * `npm run bench:serving`: Keel's serving against MLServer (PyPI, LightGBM runtime, an equivalent Adult model) and a
 * bare grpc-js OIP echo server (the limit), all on this machine, driven by ghz (built from the Go module proxy) over
 * gRPC ModelInfer in alternating rounds, single-row and 64-row requests at a fixed concurrency. Serving runs as users
 * run it: the seven services (started here if not running), the Adult pipeline trained on the stack, every prediction
 * logged and monitored. Reports requests/s, rows/s, p50/p99 and each server's CPU per request, and the whole
 * system's CPU per logged prediction (serving, monitoring, the database, the broker). Writes
 * docs/benchmarks/serving.json and serving.md and rebuilds docs/benchmarks.md. Needs the stack (run it under the
 * stack lock). No test asserts these figures.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AlertRaisedV1, DriftDetectedV1, PredictionLoggedV2, type Scalar } from '@keel/contracts';
import { createKafka, createProducer, silentLogger } from '@keel/messaging';
import { type Admin } from 'kafkajs';
import {
  fixtureRecords,
  InferenceClient,
  pipelineSpecFixture,
  publishUpstreamRecords,
  stackEndpoints,
  uniquePipelineId,
} from '@keel/testing';
import { PipelineObserver } from '../chaos/pipeline-observer';
import { ensureServices, restoreServices } from '../chaos/service-guard';
import { applySpec, endpoints, waitForChampion, waitForServing } from '../demo/pipeline-client';
import { servicePid, services } from '../services/services';
import { up } from '../stack/lifecycle';
import { cacheRoot, repoRoot } from '../stack/paths';
import { livePid } from '../stack/processes';
import { serverDirs, servers } from '../stack/servers';
import { treeCpuSeconds } from './serving/cpu';
import { ensureGhz, GHZ_VERSION, type GhzResult, runGhz } from './serving/ghz';
import { ensureMlserverVenv, prepareMlserverModel, startMlserver } from './serving/mlserver';
import { requestCount, writeAdultRequestFile, writeMatrixRequestFile } from './serving/requests';

const TARGETS = ['keel', 'mlserver', 'echo'] as const;
type Target = (typeof TARGETS)[number];
const TARGET_LABEL: Record<Target, string> = {
  keel: 'Keel serving',
  mlserver: 'MLServer (LightGBM)',
  echo: 'grpc-js echo (limit)',
};
const MLSERVER_PORTS = { http: 18_080, grpc: 18_081, metrics: 18_082 };
const ECHO_PORT = 18_001;

interface BenchConfig {
  rounds: number;
  seconds: number;
  warmupSeconds: number;
  concurrency: number;
  rowShapes: number[];
  trainingRows: number;
  catchUpSeconds: number;
  /** Different Adult test rows the load carries, in requests sent in turn (one row repeated drifts every window). */
  distinctRows: number;
  /** The open-loop rate at which serving's and the echo server's CPU per single-row request are compared. */
  equalLoadRps: number;
  /** Seconds of each of the two 64-row logging phases, varied rows against one request repeated; 0 skips them. */
  driftPhaseSeconds: number;
  /** The stack counts as idle (no backlog) below this share of one core, services, Kafka and FerretDB together. */
  idleMaxShare: number;
  /** Longest wait for the stack to go idle before measuring anyway. */
  idleTimeoutSeconds: number;
}

function positive(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number (got "${text}")`);
  return value;
}

function nonNegative(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === '0') return 0;
  return positive(name, fallback);
}

function readConfig(): BenchConfig {
  return {
    rounds: Math.round(positive('BENCH_SERVING_ROUNDS', 3)),
    seconds: positive('BENCH_SERVING_SECONDS', 10),
    warmupSeconds: positive('BENCH_SERVING_WARMUP_SECONDS', 3),
    concurrency: Math.round(positive('BENCH_SERVING_CONCURRENCY', 16)),
    rowShapes: [1, 64],
    trainingRows: Math.round(positive('BENCH_SERVING_TRAINING_ROWS', 5000)),
    catchUpSeconds: positive('BENCH_SERVING_CATCHUP_SECONDS', 120),
    distinctRows: Math.round(positive('BENCH_SERVING_DISTINCT_ROWS', 4_096)),
    equalLoadRps: positive('BENCH_SERVING_EQUAL_RPS', 1_000),
    driftPhaseSeconds: nonNegative('BENCH_SERVING_DRIFT_PHASE_SECONDS', 10),
    idleMaxShare: positive('BENCH_SERVING_IDLE_MAX_SHARE', 0.25),
    idleTimeoutSeconds: positive('BENCH_SERVING_IDLE_TIMEOUT_SECONDS', 180),
  };
}

function log(message: string): void {
  process.stderr.write(`[bench:serving ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

interface Run extends GhzResult {
  round: number;
  target: Target;
  rows: number;
  rowsPerSecond: number;
  /** The target server's CPU (its whole process tree) per answered request, ms. */
  cpuMsPerRequest: number;
  /** ghz's own CPU per answered request, ms (the load generator shares the machine's cores). */
  clientCpuMsPerRequest: number;
}

interface Summary {
  target: Target;
  rows: number;
  requestsPerSecond: number;
  rowsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  cpuMsPerRequest: number;
  /** ghz's own CPU per request (runs before it was measured have none). */
  clientCpuMsPerRequest?: number;
  errors: number;
}

interface LoggingCost {
  answeredRows: number;
  /** Rows of this run's pipeline monitoring had logged by the end (its predictions count). */
  mergedRows: number;
  seconds: number;
  /** CPU seconds over the whole measurement, per process. */
  cpuSeconds: Record<'serving' | 'monitoring' | 'ferretdb' | 'kafka', number>;
  /**
   * CPU of serving, monitoring, the database and the broker over the measurement, per row serving answered; a lower
   * bound of the cost of a logged prediction while monitoring had not merged every answered row by the end.
   */
  cpuMsPerAnsweredRow: number;
  /** Events on the stack's topics meanwhile: prediction-log batches, drift reports, alerts. */
  events?: Record<TopicName, number>;
}

const EVENT_TOPICS = {
  predictionBatches: PredictionLoggedV2.topic,
  driftDetected: DriftDetectedV1.topic,
  alertsRaised: AlertRaisedV1.topic,
} as const;
type TopicName = keyof typeof EVENT_TOPICS;

/** Serving's and the echo server's CPU per single-row request at the same open-loop rate. */
interface EqualLoadRun {
  round: number;
  target: 'keel' | 'echo';
  rps: number;
  p50Ms: number;
  p99Ms: number;
  cpuMsPerRequest: number;
  errors: number;
}

/** One run of `tools/bench/serving-hot-path.ts` (serving's inference path alone, Kafka's send faked). */
interface HotPathRun {
  target: 'keel' | 'keel-unbatched' | 'mlserver' | 'echo';
  rows: number;
  rps: number;
  rowsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  cpuMsPerRequest: number;
  /** ghz's own CPU per request (runs before it was measured have none). */
  clientCpuMsPerRequest?: number;
  errors: number;
}

interface HotPathReport {
  date: string;
  /** The commit measured (runs before it was recorded have none). */
  commit?: string;
  machine: { cores: number; loadBefore: number; loadAfter: number };
  config: { seconds: number; concurrency: number; rounds: number; distinctRows?: number };
  /** Medians over the rounds, per server and request shape. */
  summary: HotPathRun[];
  /** Serving's and the echo server's CPU per single-row request at one open-loop rate (runs before it have none). */
  equalLoad?: { rps: number; runs: { round: number }[]; keelCpuMsPerRequest: number; echoCpuMsPerRequest: number };
}

interface ServingBenchReport {
  date: string;
  commit: string;
  machine: { cores: number; loadBefore: number; loadAfter: number; node: string };
  config: BenchConfig;
  tools: { ghz: string; mlserver: string };
  pipelineId: string;
  runs: Run[];
  summary: Summary[];
  logging: LoggingCost;
  equalLoad?: { rps: number; runs: EqualLoadRun[]; keelCpuMsPerRequest: number; echoCpuMsPerRequest: number };
  /**
   * The whole system's cost per logged row under 64-row load alone, carrying `distinctRows` different rows, then one
   * request repeated (every monitoring window drifts: a drift report, a policy decision and an alert per window).
   */
  driftPhases?: { varied: LoggingCost; repeated: LoggingCost };
  /** The hot path measured just before (same `npm run bench:serving`), if it ran. */
  hotPath?: HotPathReport;
  /** The wait for the stack to go idle before the measured runs (runs before it was added have none). */
  idleBefore?: { waitedSeconds: number; lastShare: number; idle: boolean };
}

const median = (values: number[]) => {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

const fixed = (value: number, digits = 1) => (Number.isFinite(value) ? value.toFixed(digits) : '-');

function summarize(runs: readonly Run[]): Summary[] {
  const summary: Summary[] = [];
  for (const rows of [...new Set(runs.map((run) => run.rows))]) {
    for (const target of TARGETS) {
      const mine = runs.filter((run) => run.target === target && run.rows === rows);
      if (mine.length === 0) continue;
      summary.push({
        target,
        rows,
        requestsPerSecond: median(mine.map((run) => run.rps)),
        rowsPerSecond: median(mine.map((run) => run.rowsPerSecond)),
        p50Ms: median(mine.map((run) => run.p50Ms)),
        p99Ms: median(mine.map((run) => run.p99Ms)),
        cpuMsPerRequest: median(mine.map((run) => run.cpuMsPerRequest)),
        clientCpuMsPerRequest: median(mine.map((run) => run.clientCpuMsPerRequest)),
        errors: mine.reduce((sum, run) => sum + run.errors, 0),
      });
    }
  }
  return summary;
}

function markdown(report: ServingBenchReport): string {
  const { config, logging } = report;
  const of = (target: Target, rows: number) => report.summary.find((s) => s.target === target && s.rows === rows);
  const ratio = (rows: number, field: 'requestsPerSecond' | 'rowsPerSecond' | 'cpuMsPerRequest', peer: Target) => {
    const ours = of('keel', rows)?.[field];
    const theirs = of(peer, rows)?.[field];
    return ours !== undefined && theirs !== undefined ? fixed(ours / theirs, 2) : '-';
  };
  const lines = [
    '# Serving',
    '',
    `Written by \`npm run bench:serving\` on ${report.date.slice(0, 10)} (main at ${report.commit}); machine: ${report.machine.cores} cores, load average ${fixed(report.machine.loadBefore, 2)} before and ${fixed(report.machine.loadAfter, 2)} after (other work shares it). Load generator, servers and the stack share the machine.`,
    '',
    `- Load: ghz ${report.tools.ghz} (built from the Go module proxy), gRPC ModelInfer, closed loop at concurrency ${config.concurrency} over one connection, ${config.seconds} s per run after a ${config.warmupSeconds} s warm-up, ${config.rounds} alternating rounds (the order of the servers rotates each round); figures are medians over the rounds.`,
    `- Keel serving: the seven services as \`npm start\` runs them, the Adult pipeline trained on ${config.trainingRows} records (its champion), typed column tensors (14 inputs, categoricals as BYTES), every prediction logged to Kafka and monitored.`,
    (config as Partial<BenchConfig>).distinctRows === undefined
      ? '- Requests: one request per shape, sent over and over (the same row or rows every time).'
      : `- Requests: ${config.distinctRows} different Adult test rows per shape (${requestCount(1, config.distinctRows)} single-row requests, ${requestCount(64, config.distinctRows)} of 64 rows), sent in turn by ghz, the same rows to every server.`,
    `- MLServer ${report.tools.mlserver} with its LightGBM runtime (default settings): LightGBM on the same 14 Adult features (categoricals as integer codes, 100 trees), one FP64 [n, 14] tensor per request.`,
    '- grpc-js echo: a bare OIP server that returns its inputs as outputs, the same request as Keel: the limit of Node and grpc-js here.',
    '- CPU: user + system time of the server process and its children over each run, per answered request.',
    ...(report.idleBefore
      ? [
          report.idleBefore.idle
            ? `- Measured once the stack had gone idle (no backlog): after ${fixed(report.idleBefore.waitedSeconds, 0)} s, services, Kafka and FerretDB at ${fixed(report.idleBefore.lastShare * 100, 0)} % of a core together.`
            : `- The stack did not go idle within ${fixed(report.idleBefore.waitedSeconds, 0)} s (still ${fixed(report.idleBefore.lastShare * 100, 0)} % of a core): a backlog shares the machine with these figures.`,
        ]
      : []),
    '',
    '| server | rows/request | requests/s | rows/s | p50 ms | p99 ms | server CPU ms/request | errors |',
    '| ------ | -----------: | ---------: | -----: | -----: | -----: | --------------------: | -----: |',
    ...report.summary.map(
      (s) =>
        `| ${TARGET_LABEL[s.target]} | ${s.rows} | ${fixed(s.requestsPerSecond)} | ${fixed(s.rowsPerSecond, 0)} | ${fixed(s.p50Ms, 2)} | ${fixed(s.p99Ms, 2)} | ${fixed(s.cpuMsPerRequest, 3)} | ${s.errors} |`,
    ),
    '',
    `Keel against MLServer: ${ratio(1, 'requestsPerSecond', 'mlserver')}× its requests/s for single rows, ${ratio(64, 'rowsPerSecond', 'mlserver')}× its rows/s for 64-row requests. Keel's CPU per single-row request is ${ratio(1, 'cpuMsPerRequest', 'echo')}× the echo server's (64 rows: ${ratio(64, 'cpuMsPerRequest', 'echo')}×).`,
    '',
    ...limitLines(of('echo', 64), of('mlserver', 64), report.machine.cores),
    ...equalLoadLines(report.equalLoad),
    ...targetLines(report),
    `Prediction logging, whole system: over ${fixed(logging.seconds, 0)} s from the first Keel run until monitoring caught up (or ${config.catchUpSeconds} s after the last run), serving answered ${logging.answeredRows} rows and monitoring had logged ${logging.mergedRows} of them; CPU seconds: serving ${fixed(logging.cpuSeconds.serving)}, monitoring ${fixed(logging.cpuSeconds.monitoring)}, FerretDB ${fixed(logging.cpuSeconds.ferretdb)}, Kafka ${fixed(logging.cpuSeconds.kafka)}: **${fixed(logging.cpuMsPerAnsweredRow, 3)} ms of CPU per logged prediction**` +
      (logging.mergedRows < logging.answeredRows
        ? ` (a lower bound: monitoring was still ${logging.answeredRows - logging.mergedRows} rows behind at the end).`
        : '.') +
      eventsText(logging.events),
    '',
    ...driftPhaseLines(report.driftPhases, config.driftPhaseSeconds),
    ...hotPathLines(report.hotPath),
  ];
  return lines.join('\n');
}

/**
 * Whether 5× MLServer's 64-row rows/s is within what the bare echo server answers here, and (when measured) what
 * the load generator itself spends: ghz shares the machine's cores with the server it drives.
 */
function limitLines(
  echo: Pick<Summary, 'rowsPerSecond' | 'requestsPerSecond' | 'cpuMsPerRequest' | 'clientCpuMsPerRequest'> | undefined,
  mlserver: Pick<Summary, 'rowsPerSecond'> | undefined,
  cores: number,
): string[] {
  if (!echo || !mlserver) return [];
  const target = 5 * mlserver.rowsPerSecond;
  const client = echo.clientCpuMsPerRequest;
  const coresAt = (msPerRequest: number) => (msPerRequest * echo.requestsPerSecond) / 1000;
  return [
    `The limit at 64 rows: the bare grpc-js echo server answered ${fixed(echo.rowsPerSecond, 0)} rows/s, ${fixed(echo.rowsPerSecond / mlserver.rowsPerSecond, 2)}× MLServer's ${fixed(mlserver.rowsPerSecond, 0)}; 5× MLServer's would be ${fixed(target, 0)} rows/s, ` +
      (echo.rowsPerSecond < target
        ? `${fixed(target / echo.rowsPerSecond, 2)}× what the echo server (the limit the issue names: it only decodes and echoes the same requests) answers on this machine.`
        : 'within what the echo server answers.') +
      (client !== undefined && Number.isFinite(client)
        ? ` In those runs ghz itself spent ${fixed(client, 3)} ms of CPU per request and the echo server ${fixed(echo.cpuMsPerRequest, 3)}: ${fixed(coresAt(client), 2)} and ${fixed(coresAt(echo.cpuMsPerRequest), 2)} of the machine's ${cores} cores at ${fixed(echo.requestsPerSecond, 0)} requests/s, so the load generator, on the same cores, is part of that limit.`
        : ''),
    '',
  ];
}

/**
 * Whole-system CPU per logged prediction when issue 10 was written (ms): the figure the issue asks to halve, from this
 * bench's first run (commit 2972190: serving, monitoring, FerretDB and Kafka over the run, per answered row).
 */
const ISSUE_WHOLE_SYSTEM_MS_PER_ROW = 2.459;

/** Issue 10's acceptance targets, each met or not by this run's figures (with the stack on, as users run it). */
function targetLines(report: ServingBenchReport): string[] {
  const of = (target: Target, rows: number) => report.summary.find((s) => s.target === target && s.rows === rows);
  const verdict = (met: boolean | undefined) => (met === undefined ? 'not measured' : met ? '**met**' : '**not met**');
  const keel1 = of('keel', 1);
  const keel64 = of('keel', 64);
  const ml1 = of('mlserver', 1);
  const ml64 = of('mlserver', 64);
  const echo64 = of('echo', 64);
  const lines = [
    `Targets (issue 10), by this stack run's figures (${report.date.slice(0, 10)}, main at ${report.commit}; prediction logging and monitoring on):`,
    '',
  ];
  if (keel1 && ml1) {
    const x = keel1.requestsPerSecond / ml1.requestsPerSecond;
    lines.push(
      `- ≥ 3× MLServer's requests/s for single rows, at a lower p99: ${fixed(x, 2)}×, p99 ${fixed(keel1.p99Ms, 1)} against ${fixed(ml1.p99Ms, 1)} ms: ${verdict(x >= 3 && keel1.p99Ms < ml1.p99Ms)}.`,
    );
  }
  if (keel64 && ml64) {
    const x = keel64.rowsPerSecond / ml64.rowsPerSecond;
    const limit =
      echo64 && echo64.rowsPerSecond < 5 * ml64.rowsPerSecond
        ? ` Not reachable on this machine: the echo server, which does no work but decode and echo, answered ${fixed(echo64.rowsPerSecond / ml64.rowsPerSecond, 2)}× MLServer's rows/s.`
        : '';
    lines.push(
      `- ≥ 5× MLServer's rows/s for 64-row requests, at a lower p99: ${fixed(x, 2)}×, p99 ${fixed(keel64.p99Ms, 1)} against ${fixed(ml64.p99Ms, 1)} ms: ${verdict(x >= 5 && keel64.p99Ms < ml64.p99Ms)}.${limit}`,
    );
  }
  if (report.equalLoad) {
    const x = report.equalLoad.keelCpuMsPerRequest / report.equalLoad.echoCpuMsPerRequest;
    lines.push(
      `- Serving's CPU per single-row request ≤ 1.5× the echo server's (at the same offered load): ${fixed(x, 2)}×: ${verdict(x <= 1.5)}.`,
    );
  }
  const varied = report.driftPhases?.varied;
  if (varied) {
    const ms = varied.cpuMsPerAnsweredRow;
    lines.push(
      `- Whole-system CPU per logged prediction halved from ${ISSUE_WHOLE_SYSTEM_MS_PER_ROW} ms (this bench's first run): ${fixed(ms * 1000, 1)} µs per row over the varied-rows phase (the whole run, backlog included: ${fixed(report.logging.cpuMsPerAnsweredRow * 1000, 1)} µs): ${verdict(ms <= ISSUE_WHOLE_SYSTEM_MS_PER_ROW / 2)}.`,
    );
  }
  lines.push('');
  return lines;
}

function equalLoadLines(
  equalLoad:
    | (Pick<NonNullable<ServingBenchReport['equalLoad']>, 'rps' | 'keelCpuMsPerRequest' | 'echoCpuMsPerRequest'> & {
        runs: { round: number }[];
      })
    | undefined,
): string[] {
  if (!equalLoad) return [];
  return [
    `At the same offered load (open loop, ${fixed(equalLoad.rps, 0)} single-row requests/s, ${new Set(equalLoad.runs.map((run) => run.round)).size} alternating rounds, medians), Keel's CPU per request is ${fixed(equalLoad.keelCpuMsPerRequest, 3)} ms against the echo server's ${fixed(equalLoad.echoCpuMsPerRequest, 3)}: ${fixed(equalLoad.keelCpuMsPerRequest / equalLoad.echoCpuMsPerRequest, 2)}×. (A closed loop gives each server its own request rate, and a busier Node process spends less CPU per request, so the ratio above also compares two loads.)`,
    '',
  ];
}

function eventsText(events: LoggingCost['events']): string {
  if (!events) return '';
  const earlier =
    events.alertsRaised > events.driftDetected
      ? ` (the alerts beyond one per drift report answer events that were on the stack before this run, which monitoring applied meanwhile: their cost is in the figure)`
      : '';
  return ` Meanwhile the stack carried ${events.predictionBatches} prediction-log batches, ${events.driftDetected} drift reports and ${events.alertsRaised} alerts${earlier}.`;
}

function driftPhaseLines(phases: ServingBenchReport['driftPhases'], loadSeconds: number): string[] {
  if (!phases) return [];
  const line = (label: string, cost: LoggingCost) =>
    `| ${label} | ${cost.answeredRows} | ${fixed(cost.cpuSeconds.serving)} | ${fixed(cost.cpuSeconds.monitoring)} | ${fixed(cost.cpuSeconds.ferretdb)} | ${fixed(cost.cpuSeconds.kafka)} | ${cost.events?.driftDetected ?? '-'} | ${cost.events?.alertsRaised ?? '-'} | ${fixed(cost.cpuMsPerAnsweredRow * 1000, 1)}${cost.mergedRows < cost.answeredRows ? ' (lower bound)' : ''} |`;
  return [
    '### What persistent drift costs',
    '',
    `Two more logging phases, each ${fixed(loadSeconds, 0)} s of 64-row load then the wait until monitoring and its consumers of drift reports and alerts caught up (${fixed(phases.varied.seconds, 0)} and ${fixed(phases.repeated.seconds, 0)} s in all): the varied rows above, then one 64-row request sent over and over, as this bench sent before it carried varied rows. A window of one repeated row drifts, so each of the pipeline's 200-row windows then brings a drift report, a retrain-policy decision and an alert, each event read by monitoring's own consumers, which record every event they apply in the database.`,
    '',
    '| load | rows | serving CPU s | monitoring CPU s | FerretDB CPU s | Kafka CPU s | drift reports | alerts | whole system µs per row |',
    '| ---- | ---: | ------------: | ---------------: | -------------: | ----------: | ------------: | -----: | ----------------------: |',
    line('varied rows', phases.varied),
    line('one request repeated', phases.repeated),
    '',
  ];
}

const HOT_PATH_LABEL: Record<HotPathRun['target'], string> = {
  keel: 'Keel serving (adaptive batching)',
  'keel-unbatched': 'Keel serving (batching off)',
  mlserver: 'MLServer (LightGBM)',
  echo: 'grpc-js echo (limit)',
};

/** The hot-path table: serving's own CPU per request without Kafka, monitoring and the database on the machine. */
function hotPathLines(hotPath: HotPathReport | undefined): string[] {
  if (!hotPath) return [];
  const of = (target: HotPathRun['target'], rows: number) =>
    hotPath.summary.find((run) => run.target === target && run.rows === rows);
  const ratio = (rows: number, field: 'rps' | 'rowsPerSecond' | 'cpuMsPerRequest', peer: HotPathRun['target']) =>
    fixed((of('keel', rows)?.[field] ?? NaN) / (of(peer, rows)?.[field] ?? NaN), 2);
  return [
    '## Serving alone (hot path)',
    '',
    `Written by \`tools/bench/serving-hot-path.ts\` (the first step of \`npm run bench:serving\`, no stack needed) on ${hotPath.date.slice(0, 10)}${hotPath.commit ? ` (main at ${hotPath.commit})` : ''}; load average ${fixed(hotPath.machine.loadBefore, 2)} before and ${fixed(hotPath.machine.loadAfter, 2)} after. Keel: serving's gRPC controller, inference, prediction log (validated and serialized; only Kafka's send is faked) and span export (to a sink that drops them) in one process over an Adult GBDT (100 trees, 31 leaves), typed column tensors${hotPath.config.distinctRows ? ` carrying ${hotPath.config.distinctRows} different test rows per shape` : ''}; MLServer and the echo server as in the stack run. ghz at concurrency ${hotPath.config.concurrency} over one connection, ${hotPath.config.seconds} s per run, ${hotPath.config.rounds} alternating rounds, medians.`,
    '',
    '| server | rows/request | requests/s | rows/s | p50 ms | p99 ms | server CPU ms/request | CPU µs/row | errors |',
    '| ------ | -----------: | ---------: | -----: | -----: | -----: | --------------------: | ---------: | -----: |',
    ...hotPath.summary.map(
      (run) =>
        `| ${HOT_PATH_LABEL[run.target]} | ${run.rows} | ${fixed(run.rps)} | ${fixed(run.rowsPerSecond, 0)} | ${fixed(run.p50Ms, 2)} | ${fixed(run.p99Ms, 2)} | ${fixed(run.cpuMsPerRequest, 3)} | ${fixed((run.cpuMsPerRequest * 1000) / run.rows, 1)} | ${run.errors} |`,
    ),
    '',
    `Keel against MLServer here: ${ratio(1, 'rps', 'mlserver')}× its requests/s for single rows, ${ratio(64, 'rowsPerSecond', 'mlserver')}× its rows/s for 64-row requests. Keel's CPU per single-row request: ${ratio(1, 'cpuMsPerRequest', 'echo')}× the echo server's (64 rows: ${ratio(64, 'cpuMsPerRequest', 'echo')}×).`,
    '',
    ...limitLines(
      of('echo', 64) && {
        rowsPerSecond: of('echo', 64)!.rowsPerSecond,
        requestsPerSecond: of('echo', 64)!.rps,
        cpuMsPerRequest: of('echo', 64)!.cpuMsPerRequest,
        clientCpuMsPerRequest: of('echo', 64)!.clientCpuMsPerRequest,
      },
      of('mlserver', 64) && { rowsPerSecond: of('mlserver', 64)!.rowsPerSecond },
      hotPath.machine.cores,
    ),
    ...equalLoadLines(hotPath.equalLoad),
  ];
}

/** The latest `tools/bench/serving-hot-path.ts` figures, if it ran. */
function readHotPath(): HotPathReport | undefined {
  const file = join(repoRoot, 'docs/benchmarks/serving-hot-path.json');
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as HotPathReport) : undefined;
}

/** The end offsets of the event topics, summed over partitions. */
async function topicEnds(admin: Admin): Promise<Record<TopicName, number>> {
  const ends = await Promise.all(
    Object.entries(EVENT_TOPICS).map(async ([name, topic]) => {
      const offsets = await admin.fetchTopicOffsets(topic).catch(() => []);
      return [name, offsets.reduce((sum, partition) => sum + Number(partition.high), 0)] as const;
    }),
  );
  return Object.fromEntries(ends) as Record<TopicName, number>;
}

/** Monitoring's consumers of drift reports and alerts (group `<service>.<suffix>`), which react per window. */
const REACTIONS = [
  { groupId: 'monitoring.retrain-policy', topic: DriftDetectedV1.topic },
  { groupId: 'monitoring.alerts', topic: DriftDetectedV1.topic },
  { groupId: 'monitoring.alert-webhooks', topic: AlertRaisedV1.topic },
];

/** Events of those topics their groups have not committed yet. */
async function reactionLag(admin: Admin): Promise<number> {
  let lag = 0;
  for (const { groupId, topic } of REACTIONS) {
    const [ends, committed] = await Promise.all([
      admin.fetchTopicOffsets(topic).catch(() => []),
      admin.fetchOffsets({ groupId, topics: [topic] }).catch(() => []),
    ]);
    const done = new Map(
      committed.flatMap((entry) => entry.partitions.map((p) => [p.partition, Math.max(0, Number(p.offset))] as const)),
    );
    for (const end of ends) lag += Math.max(0, Number(end.high) - (done.get(end.partition) ?? 0));
  }
  return lag;
}

/**
 * Waits until the stack has gone idle: the seven services, Kafka and FerretDB together below `maxShare` of one core
 * over a `windowSeconds` window (a fresh stack's backlog, or the champion's training, still running would be
 * measured with serving). Gives up after `timeoutSeconds`, saying so; returns what it saw.
 */
async function waitForIdle(
  maxShare: number,
  windowSeconds: number,
  timeoutSeconds: number,
): Promise<{ waitedSeconds: number; lastShare: number; idle: boolean }> {
  const pids = () => [
    ...services.map((service) => servicePid(service.name)),
    ...['kafka', 'ferretdb'].map((name) => {
      const definition = servers.find((s) => s.name === name)!;
      return livePid(serverDirs(definition).pidFile, definition.marker);
    }),
  ];
  const cpu = () => pids().reduce<number>((sum, pid) => sum + (pid === undefined ? 0 : treeCpuSeconds(pid)), 0);
  const started = Date.now();
  let lastShare = NaN;
  while (Date.now() - started < timeoutSeconds * 1000) {
    const before = cpu();
    await sleep(windowSeconds * 1000);
    lastShare = (cpu() - before) / windowSeconds;
    log(`stack CPU over the last ${windowSeconds} s: ${fixed(lastShare * 100, 0)} % of a core`);
    if (lastShare < maxShare) return { waitedSeconds: (Date.now() - started) / 1000, lastShare, idle: true };
  }
  log(`the stack did not go idle within ${timeoutSeconds} s; measuring anyway (see idleBefore in the JSON)`);
  return { waitedSeconds: (Date.now() - started) / 1000, lastShare, idle: false };
}

/** Serving, monitoring, FerretDB and Kafka: the processes a logged prediction costs CPU in. */
function systemPids(): Record<keyof LoggingCost['cpuSeconds'], number | undefined> {
  const server = (name: string) => {
    const definition = servers.find((s) => s.name === name)!;
    return livePid(serverDirs(definition).pidFile, definition.marker);
  };
  return {
    serving: servicePid('serving'),
    monitoring: servicePid('monitoring'),
    ferretdb: server('ferretdb'),
    kafka: server('kafka'),
  };
}

function systemCpu(pids: ReturnType<typeof systemPids>): LoggingCost['cpuSeconds'] {
  const cpu = (pid: number | undefined) => (pid === undefined ? NaN : treeCpuSeconds(pid));
  return {
    serving: cpu(pids.serving),
    monitoring: cpu(pids.monitoring),
    ferretdb: cpu(pids.ferretdb),
    kafka: cpu(pids.kafka),
  };
}

async function waitUntilReady(client: InferenceClient, model: string, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ready = await client.modelReady({ name: model, version: '' }).catch(() => ({ ready: false }));
    if (ready.ready) return;
    await sleep(500);
  }
  throw new Error(`${what} not ready after ${timeoutMs / 1000} s`);
}

function stopChild(child: ChildProcess | undefined): void {
  if (!child?.pid || child.exitCode !== null) return;
  try {
    // Its own process group: MLServer's inference workers stop with it.
    process.kill(-child.pid, 'SIGTERM');
  } catch {
    child.kill('SIGTERM');
  }
}

async function main(): Promise<void> {
  if (process.env.BENCH_SERVING_RENDER_ONLY === '1') {
    // Rewrites serving.md from serving.json, for a change of the page's wording without a new measurement.
    // A hot-path run newer than the stack run is shown beside it (the stack run keeps its own date and commit).
    const report = JSON.parse(
      readFileSync(join(repoRoot, 'docs/benchmarks/serving.json'), 'utf8'),
    ) as ServingBenchReport;
    const hotPath = readHotPath();
    if (hotPath && (!report.hotPath || hotPath.date > report.hotPath.date)) report.hotPath = hotPath;
    writeFileSync(join(repoRoot, 'docs/benchmarks/serving.json'), `${JSON.stringify(report, null, 2)}\n`);
    writeFileSync(join(repoRoot, 'docs/benchmarks/serving.md'), markdown(report));
    return;
  }
  const config = readConfig();
  const loadBefore = loadavg()[0];
  const workDir = join(cacheRoot, 'bench-serving');
  mkdirSync(workDir, { recursive: true });
  await up(servers);
  await ensureGhz(log);
  await ensureMlserverVenv(log);
  const matrixRows = Math.max(...config.rowShapes.map((rows) => requestCount(rows, config.distinctRows) * rows));
  const mlserverModel = await prepareMlserverModel(join(workDir, 'mlserver'), MLSERVER_PORTS, matrixRows);

  let mlserver: ChildProcess | undefined;
  let echo: ChildProcess | undefined;
  const found = await ensureServices(log);
  // Ctrl-C or SIGTERM: the servers started here stop and the services are restored before exiting.
  const onSignal = (signal: NodeJS.Signals) => {
    log(`${signal}: stopping`);
    stopChild(mlserver);
    stopChild(echo);
    void restoreServices(found).finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const pipelineId = uniquePipelineId('bench-serving');
  const observer = new PipelineObserver(pipelineId);
  const kafka = createKafka({
    clientId: 'keel-bench-serving',
    brokers: stackEndpoints.kafkaBrokers,
    logger: silentLogger,
  });
  const producer = createProducer(kafka);
  const admin = kafka.admin();
  try {
    log('starting MLServer and the echo server');
    mlserver = startMlserver(join(workDir, 'mlserver'), join(workDir, 'mlserver.log'));
    echo = spawn(
      process.execPath,
      ['-r', '@swc-node/register', join(__dirname, 'serving/echo-server.ts'), String(ECHO_PORT)],
      {
        cwd: repoRoot,
        detached: true,
        stdio: 'ignore',
      },
    );

    const spec = pipelineSpecFixture('adult-income', { id: pipelineId });
    await producer.connect();
    await admin.connect();
    await applySpec(JSON.stringify(spec), pipelineId);
    const records: Record<string, Scalar>[] = fixtureRecords('adult', { count: config.trainingRows, numeric: spec });
    await publishUpstreamRecords(producer, pipelineId, records, { source: 'bench-serving', batchSize: 1000 });
    log(`${pipelineId}: ${records.length} records published; waiting for a champion`);
    const champion = await waitForChampion(pipelineId, 600_000);
    const clients = {
      keel: new InferenceClient(endpoints.servingGrpc),
      mlserver: new InferenceClient(`127.0.0.1:${MLSERVER_PORTS.grpc}`),
      echo: new InferenceClient(`127.0.0.1:${ECHO_PORT}`),
    };
    try {
      await waitForServing(clients.keel, pipelineId, 120_000, champion.version);
      await waitUntilReady(clients.mlserver, mlserverModel.name, 'MLServer', 300_000);
      await waitUntilReady(clients.echo, 'echo', 'the echo server', 60_000);
    } finally {
      for (const client of Object.values(clients)) client.close();
    }

    const requestFile = (target: Target, rows: number) => join(workDir, `${target}-${rows}.bin`);
    const { distinctRows } = config;
    for (const rows of config.rowShapes) {
      writeAdultRequestFile(requestFile('keel', rows), spec, pipelineId, rows, distinctRows);
      writeAdultRequestFile(requestFile('echo', rows), spec, 'echo', rows, distinctRows);
      writeMatrixRequestFile(requestFile('mlserver', rows), mlserverModel.name, mlserverModel.rows, rows, distinctRows);
    }
    // The drift phase's other load: one 64-row request, over and over.
    const repeatedFile = writeAdultRequestFile(join(workDir, 'keel-64-repeated.bin'), spec, pipelineId, 64);
    const address: Record<Target, string> = {
      keel: endpoints.servingGrpc,
      mlserver: `127.0.0.1:${MLSERVER_PORTS.grpc}`,
      echo: `127.0.0.1:${ECHO_PORT}`,
    };
    const pid: Record<Target, () => number | undefined> = {
      keel: () => servicePid('serving'),
      mlserver: () => mlserver?.pid,
      echo: () => echo?.pid,
    };

    // A backlog (a fresh stack's earlier events, the champion's training) would be measured with serving.
    const idleBefore = await waitForIdle(config.idleMaxShare, 5, config.idleTimeoutSeconds);
    const pids = systemPids();
    const systemBefore = systemCpu(pids);
    const eventsBefore = await topicEnds(admin);
    const loggingStarted = Date.now();
    let keelRows = 0;
    const measure = async (target: Target, rows: number, seconds: number, openLoopRps?: number) => {
      const serverPid = pid[target]();
      if (serverPid === undefined) throw new Error(`${target} is not running`);
      const before = treeCpuSeconds(serverPid);
      const result = await runGhz({
        target: address[target],
        requestFile: requestFile(target, rows),
        concurrency: config.concurrency,
        seconds,
        openLoopRps,
      });
      const cpu = treeCpuSeconds(serverPid) - before;
      const ok = result.count - result.errors;
      if (target === 'keel') keelRows += ok * rows;
      return {
        result,
        cpuMsPerRequest: (cpu * 1000) / Math.max(1, ok),
        clientCpuMsPerRequest: result.clientCpuMs / Math.max(1, ok),
      };
    };

    for (const rows of config.rowShapes) {
      for (const target of TARGETS) await measure(target, rows, config.warmupSeconds);
    }
    const runs: Run[] = [];
    for (let round = 1; round <= config.rounds; round++) {
      const order = TARGETS.map((_, i) => TARGETS[(i + round - 1) % TARGETS.length]);
      for (const rows of config.rowShapes) {
        for (const target of order) {
          const { result, cpuMsPerRequest, clientCpuMsPerRequest } = await measure(target, rows, config.seconds);
          runs.push({
            round,
            target,
            rows,
            ...result,
            rowsPerSecond: result.rps * rows,
            cpuMsPerRequest,
            clientCpuMsPerRequest,
          });
          log(
            `round ${round}, ${rows} rows, ${target}: ${fixed(result.rps)} req/s, p50 ${fixed(result.p50Ms, 2)} ms, p99 ${fixed(result.p99Ms, 2)} ms, ${fixed(cpuMsPerRequest, 3)} CPU ms/req` +
              (result.errors > 0 ? `, ${result.errors} errors (${result.firstError})` : ''),
          );
        }
      }
    }

    // CPU per request at one offered load for both: a closed loop gives each server its own rate.
    const equalLoadRuns: EqualLoadRun[] = [];
    for (let round = 1; round <= config.rounds; round++) {
      for (const target of round % 2 ? (['keel', 'echo'] as const) : (['echo', 'keel'] as const)) {
        const { result, cpuMsPerRequest } = await measure(target, 1, config.seconds, config.equalLoadRps);
        equalLoadRuns.push({ round, target, ...result, cpuMsPerRequest });
        log(
          `equal load ${config.equalLoadRps} req/s, round ${round}, ${target}: ${fixed(result.rps)} req/s answered, ${fixed(cpuMsPerRequest, 3)} CPU ms/req`,
        );
      }
    }
    const equalLoad = {
      rps: config.equalLoadRps,
      runs: equalLoadRuns,
      keelCpuMsPerRequest: median(equalLoadRuns.filter((r) => r.target === 'keel').map((r) => r.cpuMsPerRequest)),
      echoCpuMsPerRequest: median(equalLoadRuns.filter((r) => r.target === 'echo').map((r) => r.cpuMsPerRequest)),
    };

    /**
     * Waits until monitoring has logged `rows` rows of the pipeline and its consumers of drift reports and alerts
     * have applied every one (or the catch-up time passed); returns the rows logged.
     */
    const caughtUp = async (rows: number) => {
      log(`waiting up to ${config.catchUpSeconds} s for monitoring to log ${rows} rows`);
      const deadline = Date.now() + config.catchUpSeconds * 1000;
      let merged = 0;
      while (Date.now() < deadline) {
        merged = await observer.predictionsLogged().catch(() => merged);
        if (merged >= rows) break;
        await sleep(2_000);
      }
      while (Date.now() < deadline && (await reactionLag(admin)) > 0) await sleep(2_000);
      return merged;
    };
    /** The whole system's CPU and events from `before` until now, per row answered meanwhile. */
    const loggingCost = async (
      before: { cpu: LoggingCost['cpuSeconds']; events: Record<TopicName, number>; at: number },
      answeredRows: number,
      mergedRows: number,
    ): Promise<LoggingCost> => {
      const after = systemCpu(pids);
      const cpuSeconds = Object.fromEntries(
        Object.entries(after).map(([name, value]) => [name, value - before.cpu[name as keyof typeof after]]),
      ) as LoggingCost['cpuSeconds'];
      const eventsAfter = await topicEnds(admin);
      const total = cpuSeconds.serving + cpuSeconds.monitoring + cpuSeconds.ferretdb + cpuSeconds.kafka;
      return {
        answeredRows,
        mergedRows,
        seconds: (Date.now() - before.at) / 1000,
        cpuSeconds,
        cpuMsPerAnsweredRow: (total * 1000) / Math.max(1, answeredRows),
        events: Object.fromEntries(
          Object.keys(EVENT_TOPICS).map((name) => [
            name,
            eventsAfter[name as TopicName] - before.events[name as TopicName],
          ]),
        ) as Record<TopicName, number>,
      };
    };

    const merged = await caughtUp(keelRows);
    const logging = await loggingCost(
      { cpu: systemBefore, events: eventsBefore, at: loggingStarted },
      keelRows,
      merged,
    );

    let driftPhases: ServingBenchReport['driftPhases'];
    if (config.driftPhaseSeconds > 0) {
      const phase = async (file: string, label: string) => {
        const before = { cpu: systemCpu(pids), events: await topicEnds(admin), at: Date.now() };
        const result = await runGhz({
          target: address.keel,
          requestFile: file,
          concurrency: config.concurrency,
          seconds: config.driftPhaseSeconds,
        });
        const rows = (result.count - result.errors) * 64;
        keelRows += rows;
        log(`drift phase, ${label}: ${fixed(result.rps)} req/s, ${rows} rows`);
        return loggingCost(before, rows, (await caughtUp(keelRows)) - (keelRows - rows));
      };
      driftPhases = {
        varied: await phase(requestFile('keel', 64), 'varied rows'),
        repeated: await phase(repeatedFile, 'one request repeated'),
      };
    }

    const hotPath = readHotPath();
    const report: ServingBenchReport = {
      date: new Date().toISOString(),
      commit: execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' }).trim(),
      machine: { cores: cpus().length, loadBefore, loadAfter: loadavg()[0], node: process.version },
      config,
      tools: { ghz: GHZ_VERSION, mlserver: '1.7.1' },
      pipelineId,
      runs,
      summary: summarize(runs),
      logging,
      equalLoad,
      idleBefore,
      ...(driftPhases ? { driftPhases } : {}),
      // Only a hot-path run of this same bench (within the hour) is reported beside the stack's figures.
      ...(hotPath && Date.now() - Date.parse(hotPath.date) < 3_600_000 ? { hotPath } : {}),
    };
    writeFileSync(join(repoRoot, 'docs/benchmarks/serving.json'), `${JSON.stringify(report, null, 2)}\n`);
    writeFileSync(join(repoRoot, 'docs/benchmarks/serving.md'), markdown(report));
    process.stdout.write(markdown(report));
  } finally {
    stopChild(mlserver);
    stopChild(echo);
    await producer.disconnect().catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
    await observer.close();
    await restoreServices(found);
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`bench:serving failed: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
