/**
 * `npm run soak`: a benchmark (not a test) of serving under sustained load with prediction logging and monitoring
 * on. ghz measures serving's capacity first, as the highest open-loop rate it sustains (capacity-search.ts: steps at
 * fixed rates, each held only with no error, p99 within a bound and the rate sent in full), then sends ModelInfer at
 * 80 % of it for SOAK_MINUTES (default 10) as back-to-back one-minute open-loop runs, and reports errors, latency
 * percentiles, the RSS of every service, serving's event-loop delay and where the machine's CPU went per minute, first
 * minute against last. Writes docs/benchmarks/soak.json and docs/benchmarks/soak.md and rebuilds docs/benchmarks.md.
 * Needs the stack; starts the services if they are not running (and stops them again). Prints a verdict on flatness
 * (first three minutes against the last three) and on whether the rate was sustained. Exits non-zero when a request
 * failed.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Scalar } from '@keel/contracts';
import { createKafka, createProducer, silentLogger } from '@keel/messaging';
import {
  fixtureRecords,
  InferenceClient,
  pipelineSpecFixture,
  publishUpstreamRecords,
  stackEndpoints,
  uniquePipelineId,
} from '@keel/testing';
import { applySpec, endpoints, waitForChampion, waitForServing } from '../demo/pipeline-client';
import { PipelineObserver } from '../chaos/pipeline-observer';
import { ensureServices, restoreServices } from '../chaos/service-guard';
import { servicePid, services } from '../services/services';
import { up } from '../stack/lifecycle';
import { repoRoot } from '../stack/paths';
import { servers } from '../stack/servers';
import { ensureGhz, GHZ_VERSION, type GhzResult, runGhz } from './serving/ghz';
import { writeAdultRequestFile } from './serving/requests';
import { type CapacityStep, searchCapacity, SENT_FRACTION } from './soak/capacity-search';
import {
  cpuBetween,
  cpuSnapshot,
  type CpuSnapshot,
  type CpuUse,
  loadAverage,
  servingCounters,
  type ServingCounters,
  servingLoopDelay,
} from './soak/machine-sampler';

interface SoakConfig {
  minutes: number;
  rowsPerRequest: number;
  trainingRows: number;
  stageSeconds: number;
  loadFraction: number;
  capacityP99Ms: number;
  capacitySteps: number;
}

function positive(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const text = env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number (got "${text}")`);
  return value;
}

function readConfig(env: NodeJS.ProcessEnv): SoakConfig {
  return {
    minutes: positive(env, 'SOAK_MINUTES', 10),
    rowsPerRequest: Math.round(positive(env, 'SOAK_ROWS_PER_REQUEST', 1)),
    trainingRows: Math.round(positive(env, 'SOAK_TRAINING_ROWS', 5000)),
    stageSeconds: positive(env, 'SOAK_CAPACITY_STAGE_SECONDS', 15),
    loadFraction: positive(env, 'SOAK_LOAD_FRACTION', 0.8),
    capacityP99Ms: positive(env, 'SOAK_CAPACITY_P99_MS', 250),
    capacitySteps: Math.round(positive(env, 'SOAK_CAPACITY_STEPS', 8)),
  };
}

function log(message: string): void {
  process.stderr.write(`[soak ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

function rssMiB(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

function serviceRss(): Record<string, number | undefined> {
  return Object.fromEntries(services.map(({ name }) => [name, rssMiB(servicePid(name))]));
}

/** Where ghz sends ModelInfer: serving's gRPC address and a serialized request of the soak's rows. */
interface LoadTarget {
  address: string;
  requestFile: string;
}

// ghz (Go) generates the load rather than a Node client in this process: on a 2-core machine that also runs the
// services and the stack, a Node client spends a core of its own and could not send 80 % of serving's capacity.
const WARM_UP_SECONDS = 10;
// Moderate concurrency: the warm-up's throughput is where the open-loop search starts, not the capacity.
const WARM_UP_CALLERS = 8;
// ghz's senders in open loop: each sends without waiting for answers, so a few keep any rate this machine can take.
const OPEN_LOOP_SENDERS = 16;
// Between capacity steps: a step that fell behind leaves work (and prediction logs) that must not count against the
// next one.
const STEP_PAUSE_MS = 5_000;
// The rate grows by this factor while steps hold; then the search bisects to within BRACKET_PRECISION.
const STEP_GROWTH = 1.25;
const BRACKET_PRECISION = 0.05;

interface Capacity {
  warmUp: { callers: number; requestsPerSecond: number; p99Ms: number };
  steps: CapacityStep[];
  requestsPerSecond: number;
  answeredRows: number;
}

/**
 * The highest open-loop rate serving sustains (see capacity-search.ts). A closed-loop warm-up comes first: prediction
 * logging and monitoring reach their steady cost only after the first batches, and capacity must include that cost
 * or 80 % of it is no headroom at all; its throughput at moderate concurrency is the first step's rate.
 */
async function measureCapacity(target: LoadTarget, config: SoakConfig, signal: AbortSignal): Promise<Capacity> {
  const warmUp = await runGhz({
    target: target.address,
    requestFile: target.requestFile,
    concurrency: WARM_UP_CALLERS,
    seconds: WARM_UP_SECONDS,
  });
  log(
    `warm-up: ${WARM_UP_CALLERS} callers closed loop, ${warmUp.rps.toFixed(1)} req/s, p99 ${warmUp.p99Ms.toFixed(1)} ms`,
  );
  let answeredRows = (warmUp.count - warmUp.errors) * config.rowsPerRequest;
  const search = await searchCapacity(
    async (rate) => {
      await sleep(STEP_PAUSE_MS, undefined, { signal });
      const result = await runGhz({
        target: target.address,
        requestFile: target.requestFile,
        concurrency: OPEN_LOOP_SENDERS,
        seconds: config.stageSeconds,
        openLoopRps: rate,
      });
      answeredRows += (result.count - result.errors) * config.rowsPerRequest;
      const step = {
        rate,
        sentPerSecond: result.count / config.stageSeconds,
        errors: result.errors,
        p99Ms: result.p99Ms,
      };
      log(
        `capacity step ${rate.toFixed(0)} req/s: sent ${step.sentPerSecond.toFixed(1)}/s, p99 ${step.p99Ms.toFixed(1)} ms, ${step.errors} errors${result.firstError ? ` (${result.firstError})` : ''}`,
      );
      return step;
    },
    {
      startRate: warmUp.rps,
      p99BoundMs: config.capacityP99Ms,
      maxSteps: config.capacitySteps,
      growth: STEP_GROWTH,
      precision: BRACKET_PRECISION,
    },
    () => signal.aborted,
  );
  return {
    warmUp: { callers: WARM_UP_CALLERS, requestsPerSecond: warmUp.rps, p99Ms: warmUp.p99Ms },
    steps: search.steps,
    requestsPerSecond: search.requestsPerSecond,
    answeredRows,
  };
}

interface MinuteReport {
  minute: number;
  requests: number;
  errors: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Mean RSS of each service over the minute, MiB. */
  rssMiB: Record<string, number>;
  /**
   * Answered rows monitoring had not yet logged (applied to its windows) at the minute's end; 0 when it holds as many as
   * ghz saw answered or more (calls ghz cut or gave up on were answered and logged all the same).
   */
  monitoringBacklogRows?: number;
  /** Calls by gRPC status (OK, ResourceExhausted when serving shed load, DeadlineExceeded, ...). */
  byStatus: Record<string, number>;
  /** Serving's event-loop delay over the minute: the highest 10 s-window p99 and max seen, ms. */
  servingLoopDelayMs: { p99: number; max: number };
  /** Where the machine's CPU went over the minute (percent of one core per process tree). */
  cpu?: CpuUse;
  /** The machine's 1-minute load average at the minute's end. */
  loadAverage: number;
  /** Serving's GC seconds over the minute, its most prediction-log rows waiting for Kafka, its heap at the end. */
  serving: { gcSeconds: number; maxPendingLogRows: number; heapUsedMiB: number };
}

/** One minute of the soak: what ghz measured over it and the samples taken while it ran. */
interface SoakMinute {
  from: number;
  to: number;
  result: GhzResult;
  backlog?: number;
  cpu?: CpuUse;
  loadAverage: number;
}

interface Sample {
  at: number;
  rss: Record<string, number | undefined>;
  loopDelay?: { p99: number; max: number };
  counters?: ServingCounters;
}

function minuteReports(soakMinutes: readonly SoakMinute[], samples: readonly Sample[]): MinuteReport[] {
  return soakMinutes.map(({ from, to, result, backlog, cpu, loadAverage }, index) => {
    const minuteSamples = samples.filter((s) => s.at >= from && s.at < to);
    const delays = minuteSamples.flatMap((s) => (s.loopDelay ? [s.loopDelay] : []));
    const counters = minuteSamples.flatMap((s) => (s.counters ? [s.counters] : []));
    const before = samples.filter((s) => s.at < from && s.counters).at(-1)?.counters;
    const lastCounters = counters.at(-1);
    const rss: Record<string, number> = {};
    for (const { name } of services) {
      const values = minuteSamples.flatMap((s) => (s.rss[name] === undefined ? [] : [s.rss[name]]));
      rss[name] = values.length ? values.reduce((a, b) => a + b, 0) / values.length : NaN;
    }
    return {
      minute: index + 1,
      requests: result.count,
      errors: result.errors,
      requestsPerSecond: result.count / ((to - from) / 1000),
      p50Ms: result.p50Ms,
      p99Ms: result.p99Ms,
      maxMs: result.slowestMs,
      rssMiB: rss,
      ...(backlog === undefined ? {} : { monitoringBacklogRows: backlog }),
      byStatus: result.byStatus,
      servingLoopDelayMs: {
        p99: delays.length ? Math.max(...delays.map((d) => d.p99)) : NaN,
        max: delays.length ? Math.max(...delays.map((d) => d.max)) : NaN,
      },
      ...(cpu ? { cpu } : {}),
      loadAverage,
      serving: {
        gcSeconds: lastCounters && before ? lastCounters.gcSeconds - before.gcSeconds : NaN,
        maxPendingLogRows: counters.length ? Math.max(...counters.map((c) => c.pendingLogRows)) : NaN,
        heapUsedMiB: lastCounters?.heapUsedMiB ?? NaN,
      },
    };
  });
}

interface FlatnessVerdict {
  /** Median p99 of the first three minutes against that of the last three (one noisy minute does not decide). */
  p99Ms: { first: number; last: number; flat: boolean };
  /** Mean RSS of the first three minutes against the last three, per service. */
  rssMiB: Record<string, { first: number; last: number; flat: boolean }>;
  /** Every minute sent at least SUSTAINED_FRACTION of the target rate. */
  sustainedRate: boolean;
}

// A soak looks for drift, not noise: latency may wobble with the machine, so p99 is flat while the later minutes stay
// within a quarter of the early ones; memory is flat while it grows by less than a tenth plus a small allowance for
// lazily built caches (a leak at this request rate grows by far more over ten minutes).
const P99_FLAT_RATIO = 1.25;
const RSS_FLAT_RATIO = 1.1;
const RSS_FLAT_ALLOWANCE_MIB = 16;
// ghz paces its sends; a minute that sent less than this share of the target rate did not hold the load.
const SUSTAINED_FRACTION = 0.97;

function median(values: readonly number[]): number {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

function mean(values: readonly number[]): number {
  const finite = values.filter(Number.isFinite);
  return finite.length ? finite.reduce((a, b) => a + b, 0) / finite.length : NaN;
}

function flatness(minutes: readonly MinuteReport[], targetRequestsPerSecond: number): FlatnessVerdict {
  const span = Math.min(3, Math.floor(minutes.length / 2)) || 1;
  const early = minutes.slice(0, span);
  const late = minutes.slice(-span);
  const p99First = median(early.map((m) => m.p99Ms));
  const p99Last = median(late.map((m) => m.p99Ms));
  const rssMiB: FlatnessVerdict['rssMiB'] = {};
  for (const { name } of services) {
    const first = mean(early.map((m) => m.rssMiB[name]));
    const last = mean(late.map((m) => m.rssMiB[name]));
    rssMiB[name] = { first, last, flat: !(last > first * RSS_FLAT_RATIO + RSS_FLAT_ALLOWANCE_MIB) };
  }
  return {
    p99Ms: { first: p99First, last: p99Last, flat: !(p99Last > p99First * P99_FLAT_RATIO) },
    rssMiB,
    sustainedRate: minutes.every((m) => m.requestsPerSecond >= targetRequestsPerSecond * SUSTAINED_FRACTION),
  };
}

function fixed(value: number, digits = 1): string {
  return Number.isFinite(value) ? value.toFixed(digits) : '-';
}

function markdown(report: SoakReport): string {
  const first = report.minutes[0];
  const last = report.minutes[report.minutes.length - 1];
  const lines = [
    '# Soak',
    '',
    `Written by \`npm run soak\` on ${report.date.slice(0, 10)} (main at ${report.commit}); machine: ${report.machine.cores} cores, load average ${fixed(report.machine.loadBefore, 2)} before and ${fixed(report.machine.loadAfter, 2)} after (other work shares it). The load generator, ghz ${GHZ_VERSION} (built from the Go module proxy), runs on the same machine as the services and the stack.`,
    '',
    `- Model: the Adult pipeline trained on ${report.config.trainingRows} records, served by one serving instance; ModelInfer with ${report.config.rowsPerRequest} rows per request (raw feature columns), monitoring on (drift windows of ${report.monitoringWindowRows} rows) and every prediction logged.`,
    `- Capacity: the highest open-loop rate serving sustains, ${fixed(report.capacity.requestsPerSecond)} requests/s. After a ${WARM_UP_SECONDS} s closed-loop warm-up at ${report.capacity.warmUp.callers} callers (${fixed(report.capacity.warmUp.requestsPerSecond)} requests/s, p99 ${fixed(report.capacity.warmUp.p99Ms)} ms), ghz sent open loop at fixed rates for ${report.config.stageSeconds} s each (${STEP_PAUSE_MS / 1000} s apart), growing ×${STEP_GROWTH} while a step held and then bisecting to within ${BRACKET_PRECISION * 100} %; a step holds when every request is answered, p99 stays within ${report.config.capacityP99Ms} ms and the rate is sent in full (≥ ${SENT_FRACTION * 100} %): ${report.capacity.steps.map((s) => `${fixed(s.rate, 0)} ${s.sustained ? 'held' : `failed (${s.failed})`}`).join('; ')}.`,
    `- Soak: ${report.config.minutes} back-to-back one-minute ghz runs, open loop (\`--async --rps\`) at ${Math.round(report.config.loadFraction * 100)} % of it, ${fixed(report.targetRequestsPerSecond)} requests/s; ${report.totals.requests} requests (${fixed(report.totals.requests / (report.config.minutes * 60))} requests/s sent), **${report.totals.errors} errors**; monitoring merged ${report.totals.rowsInDriftWindows} of the ${report.totals.answeredRows} answered rows into drift windows${report.totals.catchUpSeconds === undefined ? ' within 5 min of the end' : ` (all of them ${fixed(report.totals.catchUpSeconds, 0)} s after the load stopped)`}.`,
    '',
    '| minute | requests/s | errors | p50 ms | p99 ms | max ms | monitoring rows behind | ' +
      services.map((s) => `${s.name} MiB`).join(' | ') +
      ' |',
    '| -----: | ---------: | -----: | -----: | -----: | -----: | ---: | ' +
      services.map(() => '---:').join(' | ') +
      ' |',
    ...report.minutes.map(
      (m) =>
        `| ${m.minute} | ${fixed(m.requestsPerSecond)} | ${m.errors} | ${fixed(m.p50Ms)} | ${fixed(m.p99Ms)} | ${fixed(m.maxMs)} | ${m.monitoringBacklogRows ?? '-'} | ` +
        services.map((s) => fixed(m.rssMiB[s.name], 0)).join(' | ') +
        ' |',
    ),
    '',
    "Where the time went, per minute: serving's event-loop delay (highest 10 s-window p99 and max from its `/health/live`), its GC time, heap and most prediction-log rows waiting for Kafka (from its `/metrics`), calls by status as ghz saw them (Unavailable there includes the calls ghz cuts by closing its connection at a minute's end, which are not errors), the 1-minute load average, and CPU in percent of one core (all cores: " +
      `${report.machine.cores * 100} %) by process tree, "other" being work outside the soak's processes on the shared machine.`,
    '',
    '| minute | serving loop p99 / max ms | serving GC s | serving heap MiB | logs waiting (rows) | calls not OK | load | machine busy % | ' +
      CPU_COLUMNS.join(' | ') +
      ' | other |',
    '| -----: | ---: | ---: | ---: | ---: | :--- | ---: | ---: | ' +
      CPU_COLUMNS.map(() => '---:').join(' | ') +
      ' | ---: |',
    ...report.minutes.map(
      (m) =>
        `| ${m.minute} | ${fixed(m.servingLoopDelayMs.p99, 0)} / ${fixed(m.servingLoopDelayMs.max, 0)} | ${fixed(m.serving.gcSeconds, 2)} | ${fixed(m.serving.heapUsedMiB, 0)} | ${fixed(m.serving.maxPendingLogRows, 0)} | ${notOk(m.byStatus)} | ${fixed(m.loadAverage, 1)} | ${fixed(m.cpu?.machineBusyPercent ?? NaN, 0)} | ` +
        CPU_COLUMNS.map((name) => fixed(m.cpu?.cores[name] ?? NaN, 0)).join(' | ') +
        ` | ${fixed(m.cpu?.other ?? NaN, 0)} |`,
    ),
    '',
    `First minute against last: p99 ${fixed(first.p99Ms)} → ${fixed(last.p99Ms)} ms; RSS ` +
      services.map((s) => `${s.name} ${fixed(first.rssMiB[s.name], 0)} → ${fixed(last.rssMiB[s.name], 0)}`).join(', ') +
      ' MiB.',
    '',
    `Verdict (first three minutes against the last three): p99 ${fixed(report.verdict.p99Ms.first)} → ${fixed(report.verdict.p99Ms.last)} ms, ` +
      `${report.verdict.p99Ms.flat ? 'flat' : `**not flat** (more than ×${P99_FLAT_RATIO})`}; RSS ` +
      (Object.values(report.verdict.rssMiB).every((r) => r.flat)
        ? 'flat for every service'
        : `**not flat** for ${Object.entries(report.verdict.rssMiB)
            .filter(([, r]) => !r.flat)
            .map(([name, r]) => `${name} (${fixed(r.first, 0)} → ${fixed(r.last, 0)} MiB)`)
            .join(', ')}`) +
      `; the target rate was ${report.verdict.sustainedRate ? 'sustained' : '**not sustained** (the machine could not keep up with it)'}.`,
    '',
  ];
  return lines.join('\n');
}

const SERVING_HTTP = `http://127.0.0.1:${services.find((s) => s.name === 'serving')!.httpPort}`;

// The CPU table's columns: the processes that share the machine during the soak (the other services idle).
const CPU_COLUMNS = ['serving', 'monitoring', 'kafka', 'ferretdb', 'minio', 'jaeger', 'load generator'];

function notOk(byStatus: Record<string, number>): string {
  const failures = Object.entries(byStatus).filter(([code, n]) => code !== 'OK' && n > 0);
  return failures.length ? failures.map(([code, n]) => `${code} ${n}`).join(', ') : '-';
}

interface SoakReport {
  date: string;
  commit: string;
  machine: { cores: number; loadBefore: number; loadAfter: number; node: string };
  config: SoakConfig;
  pipelineId: string;
  monitoringWindowRows: number;
  capacity: Capacity;
  targetRequestsPerSecond: number;
  totals: {
    requests: number;
    errors: number;
    answeredRows: number;
    rowsInDriftWindows: number;
    catchUpSeconds?: number;
  };
  minutes: MinuteReport[];
  verdict: FlatnessVerdict;
}

/**
 * Waits until monitoring has logged `answeredRows` (its checkpoints' counts: rows applied to the stream's state, open
 * windows included); false after `seconds`. The count reads a few checkpoint documents, where summing the drift
 * windows' rows would scan a collection the soak grows by thousands of reports, on the database the services under
 * test share: the measurement itself would slow them more each minute.
 */
async function waitForMonitoring(observer: PipelineObserver, answeredRows: number, seconds: number): Promise<boolean> {
  for (let waited = 0; waited < seconds; waited += 5) {
    const logged = await observer.predictionsLogged().catch(() => 0);
    if (logged >= answeredRows) return true;
    await sleep(5_000);
  }
  return false;
}

async function main(): Promise<void> {
  const config = readConfig(process.env);
  const loadBefore = loadavg()[0];
  // The code the services start from: read now, since a soak runs for a quarter of an hour in a working tree.
  const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' }).trim();
  await up(servers);
  await ensureGhz(log);
  // Ctrl-C or SIGTERM ends every wait; the traffic stops and the services are restored before the process exits.
  const interruption = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    log(`${signal}: stopping`);
    interruption.abort();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const found = await ensureServices(log);
  const pipelineId = uniquePipelineId('soak');
  const observer = new PipelineObserver(pipelineId);
  const spec = pipelineSpecFixture('adult-income', { id: pipelineId });
  const producer = createProducer(
    createKafka({ clientId: 'keel-soak', brokers: stackEndpoints.kafkaBrokers, logger: silentLogger }),
  );
  try {
    await producer.connect();
    await applySpec(JSON.stringify(spec), pipelineId);
    const records: Record<string, Scalar>[] = fixtureRecords('adult', {
      count: config.trainingRows,
      numeric: spec,
    });
    await publishUpstreamRecords(producer, pipelineId, records, { source: 'soak', batchSize: 1000 });
    log(`${pipelineId}: ${records.length} records published; waiting for a champion`);
    const champion = await waitForChampion(pipelineId, 600_000);
    const readiness = new InferenceClient(endpoints.servingGrpc);
    await waitForServing(readiness, pipelineId, 120_000, champion.version);
    readiness.close();

    const target: LoadTarget = {
      address: endpoints.servingGrpc,
      requestFile: writeAdultRequestFile(
        join(mkdtempSync(join(tmpdir(), 'keel-soak-')), 'request.bin'),
        spec,
        pipelineId,
        config.rowsPerRequest,
      ),
    };
    const capacity = await measureCapacity(target, config, interruption.signal);
    if (capacity.requestsPerSecond === 0) throw new Error('no capacity step held: serving sustained no rate tried');
    const rate = capacity.requestsPerSecond * config.loadFraction;
    // The soak's first minute must not pay for the search's backlog of prediction logs.
    const caughtUp = await waitForMonitoring(observer, capacity.answeredRows, 120);
    log(
      `capacity ${capacity.requestsPerSecond.toFixed(1)} req/s (monitoring ${caughtUp ? 'caught up' : 'still behind after 120 s'}); soaking at ${rate.toFixed(1)} req/s for ${config.minutes} min`,
    );

    const samples: Sample[] = [];
    const sampler = setInterval(() => {
      const at = Date.now();
      const rss = serviceRss();
      void Promise.all([servingLoopDelay(SERVING_HTTP), servingCounters(SERVING_HTTP)]).then(([loopDelay, counters]) =>
        samples.push({ at, rss, ...(loopDelay ? { loopDelay } : {}), ...(counters ? { counters } : {}) }),
      );
    }, 5_000);
    sampler.unref();
    const soakMinutes: SoakMinute[] = [];
    let soakRows = 0;
    try {
      let cpuBefore: CpuSnapshot = cpuSnapshot();
      // A minute's backlog is read just after it ends (monitoring's logged count, a few checkpoint documents), while
      // the next minute sends, so the minutes follow each other without a pause.
      let counting: Promise<void> = Promise.resolve();
      for (let minute = 1; minute <= config.minutes && !interruption.signal.aborted; minute++) {
        const from = Date.now();
        const run = runGhz({
          target: target.address,
          requestFile: target.requestFile,
          concurrency: OPEN_LOOP_SENDERS,
          seconds: 60,
          openLoopRps: rate,
        });
        // Handled here too, so a failing run is not an unhandled rejection while the last count finishes.
        run.catch(() => undefined);
        await counting;
        const result = await run;
        const to = Date.now();
        const cpuAfter = cpuSnapshot();
        const cpu = cpuBetween(cpuBefore, cpuAfter);
        cpuBefore = cpuAfter;
        soakRows += (result.count - result.errors) * config.rowsPerRequest;
        const answered = capacity.answeredRows + soakRows;
        const entry: SoakMinute = { from, to, result, cpu, loadAverage: loadAverage() };
        soakMinutes.push(entry);
        counting = observer
          .predictionsLogged()
          .then(
            // Calls ghz cut when a minute's run ended, or gave up on at its deadline, were answered and logged all
            // the same: monitoring may hold more rows than ghz saw answered, which is no backlog.
            (logged) => void (entry.backlog = Math.max(0, answered - logged)),
            () => undefined,
          )
          .then(() =>
            log(
              `minute ${minute}: ${result.count} requests, ${result.errors} errors${result.firstError ? ` (${result.firstError})` : ''}, p99 ${result.p99Ms.toFixed(1)} ms, monitoring ${entry.backlog ?? '?'} rows behind, ` +
                `CPU serving ${fixed(cpu.cores.serving ?? NaN, 0)} % other ${fixed(cpu.other, 0)} %, load ${entry.loadAverage.toFixed(1)}`,
            ),
          );
      }
      await counting;
    } finally {
      clearInterval(sampler);
    }

    const stopped = Date.now();
    // Monitoring has caught up when it has logged every answered row (the capacity stages' ones too); its closed
    // drift windows then hold all of them but those that may wait in the served version's window still open
    // (monitoring stores a window when it closes).
    const expected = soakRows + capacity.answeredRows - (spec.monitoring.windowRows - 1);
    let merged = 0;
    let catchUpSeconds: number | undefined;
    for (let waited = 0; waited < 300; waited += 5) {
      const logged = await observer.predictionsLogged().catch(() => 0);
      if (logged >= soakRows + capacity.answeredRows) {
        catchUpSeconds = (Date.now() - stopped) / 1000;
        break;
      }
      await sleep(5_000, undefined, { signal: interruption.signal });
    }
    // Once, with the load stopped: the rows the closed drift windows hold (a scan of their reports).
    merged = await observer.windowRows().catch(() => merged);
    const minutes = minuteReports(soakMinutes, samples);
    const report: SoakReport = {
      date: new Date().toISOString(),
      commit,
      machine: { cores: cpus().length, loadBefore, loadAfter: loadavg()[0], node: process.version },
      config,
      pipelineId,
      monitoringWindowRows: spec.monitoring.windowRows,
      capacity,
      targetRequestsPerSecond: rate,
      totals: {
        requests: minutes.reduce((sum, m) => sum + m.requests, 0),
        errors: minutes.reduce((sum, m) => sum + m.errors, 0),
        answeredRows: expected,
        rowsInDriftWindows: merged,
        ...(catchUpSeconds === undefined ? {} : { catchUpSeconds }),
      },
      minutes,
      verdict: flatness(minutes, rate),
    };
    writeFileSync(join(repoRoot, 'docs/benchmarks/soak.json'), JSON.stringify(report, null, 2) + '\n');
    writeFileSync(join(repoRoot, 'docs/benchmarks/soak.md'), markdown(report));
    execFileSync(process.execPath, ['-r', '@swc-node/register', join(repoRoot, 'tools/bench/assemble-docs.ts')], {
      cwd: repoRoot,
      stdio: 'inherit',
    });
    process.stdout.write(markdown(report));
    process.stdout.write('\nwrote docs/benchmarks/soak.json and docs/benchmarks/soak.md\n');
    if (report.totals.errors > 0) process.exitCode = 1;
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    await producer.disconnect().catch(() => undefined);
    await observer.close().catch(() => undefined);
    await restoreServices(found);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`npm run soak failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
