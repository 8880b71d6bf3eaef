/**
 * `npm run soak`: a benchmark (not a test) of serving under sustained load with prediction logging and monitoring
 * on. ghz measures serving's capacity first (closed-loop ModelInfer at rising concurrency; the best throughput), then
 * sends ModelInfer at 80 % of it for SOAK_MINUTES (default 10) as back-to-back one-minute open-loop runs, and reports
 * errors, latency percentiles and the RSS of every service per minute, first minute against last. Writes
 * docs/benchmarks/soak.json and docs/benchmarks/soak.md and rebuilds docs/benchmarks.md. Needs the stack; starts the
 * services if they are not running (and stops them again). Prints a verdict on flatness (first three minutes against
 * the last three) and on whether the rate was sustained. Exits non-zero when a request failed.
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

interface SoakConfig {
  minutes: number;
  rowsPerRequest: number;
  trainingRows: number;
  stageSeconds: number;
  loadFraction: number;
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
    stageSeconds: positive(env, 'SOAK_CAPACITY_STAGE_SECONDS', 20),
    loadFraction: positive(env, 'SOAK_LOAD_FRACTION', 0.8),
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

interface CapacityStage {
  callers: number;
  requestsPerSecond: number;
  p99Ms: number;
  errors: number;
}

/** Where ghz sends ModelInfer: serving's gRPC address and a serialized request of the soak's rows. */
interface LoadTarget {
  address: string;
  requestFile: string;
}

// ghz (Go) generates the load rather than a Node client in this process: on a 2-core machine that also runs the
// services and the stack, a Node client spends a core of its own and could not send 80 % of serving's capacity.
const WARM_UP_SECONDS = 10;
const WARM_UP_CALLERS = 8;
// ghz's callers cost little, so the search can go past the point where a Node client would saturate first.
const MAX_CALLERS = 256;
// ghz's senders in open loop: each sends without waiting for answers, so a few keep any rate this machine can take.
const OPEN_LOOP_SENDERS = 16;

/**
 * Closed loop at 1, 2, 4, ... callers until throughput stops growing; capacity is the best stage's throughput. A
 * warm-up run comes first: prediction logging and monitoring reach their steady cost only after the first batches,
 * and capacity must include that cost or 80 % of it is no headroom at all.
 */
async function measureCapacity(
  target: LoadTarget,
  rowsPerRequest: number,
  stageSeconds: number,
  signal: AbortSignal,
): Promise<{ stages: CapacityStage[]; requestsPerSecond: number; answeredRows: number }> {
  const warmUp = await runGhz({
    target: target.address,
    requestFile: target.requestFile,
    concurrency: WARM_UP_CALLERS,
    seconds: WARM_UP_SECONDS,
  });
  let answeredRows = (warmUp.count - warmUp.errors) * rowsPerRequest;
  const stages: CapacityStage[] = [];
  let best = 0;
  let flat = 0;
  for (let callers = 1; callers <= MAX_CALLERS && flat < 2 && !signal.aborted; callers *= 2) {
    const result = await runGhz({
      target: target.address,
      requestFile: target.requestFile,
      concurrency: callers,
      seconds: stageSeconds,
    });
    answeredRows += (result.count - result.errors) * rowsPerRequest;
    const stage = { callers, requestsPerSecond: result.rps, p99Ms: result.p99Ms, errors: result.errors };
    stages.push(stage);
    log(
      `capacity: ${callers} callers, ${stage.requestsPerSecond.toFixed(1)} req/s, p99 ${stage.p99Ms.toFixed(1)} ms, ${stage.errors} errors`,
    );
    flat = stage.requestsPerSecond > best * 1.05 ? 0 : flat + 1;
    best = Math.max(best, stage.requestsPerSecond);
  }
  return { stages, requestsPerSecond: best, answeredRows };
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
  /** Answered rows monitoring had not yet merged into drift windows at the minute's end. */
  monitoringBacklogRows?: number;
}

/** One minute of the soak: what ghz measured over it and the RSS samples taken while it ran. */
interface SoakMinute {
  from: number;
  to: number;
  result: GhzResult;
  backlog?: number;
}

function minuteReports(
  soakMinutes: readonly SoakMinute[],
  samples: readonly { at: number; rss: Record<string, number | undefined> }[],
): MinuteReport[] {
  return soakMinutes.map(({ from, to, result, backlog }, index) => {
    const minuteSamples = samples.filter((s) => s.at >= from && s.at < to);
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
    `- Capacity: after a ${WARM_UP_SECONDS} s warm-up, closed loop at 1, 2, 4, ... callers, ${report.config.stageSeconds} s each, until throughput stops growing: ${fixed(report.capacity.requestsPerSecond)} requests/s (${report.capacity.stages.map((s) => `${s.callers}: ${fixed(s.requestsPerSecond)}`).join(', ')}).`,
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

interface SoakReport {
  date: string;
  commit: string;
  machine: { cores: number; loadBefore: number; loadAfter: number; node: string };
  config: SoakConfig;
  pipelineId: string;
  monitoringWindowRows: number;
  capacity: { stages: CapacityStage[]; requestsPerSecond: number; answeredRows: number };
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

async function main(): Promise<void> {
  const config = readConfig(process.env);
  const loadBefore = loadavg()[0];
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
    const capacity = await measureCapacity(target, config.rowsPerRequest, config.stageSeconds, interruption.signal);
    const rate = capacity.requestsPerSecond * config.loadFraction;
    log(
      `capacity ${capacity.requestsPerSecond.toFixed(1)} req/s; soaking at ${rate.toFixed(1)} req/s for ${config.minutes} min`,
    );

    const samples: { at: number; rss: Record<string, number | undefined> }[] = [];
    const sampler = setInterval(() => samples.push({ at: Date.now(), rss: serviceRss() }), 5_000);
    sampler.unref();
    const soakMinutes: SoakMinute[] = [];
    let soakRows = 0;
    try {
      for (let minute = 1; minute <= config.minutes && !interruption.signal.aborted; minute++) {
        const from = Date.now();
        const result = await runGhz({
          target: target.address,
          requestFile: target.requestFile,
          concurrency: OPEN_LOOP_SENDERS,
          seconds: 60,
          openLoopRps: rate,
        });
        const to = Date.now();
        soakRows += (result.count - result.errors) * config.rowsPerRequest;
        const merged = await observer.windowRows().catch(() => undefined);
        const backlog = merged === undefined ? undefined : capacity.answeredRows + soakRows - merged;
        soakMinutes.push({ from, to, result, ...(backlog === undefined ? {} : { backlog }) });
        log(
          `minute ${minute}: ${result.count} requests, ${result.errors} errors${result.firstError ? ` (${result.firstError})` : ''}, p99 ${result.p99Ms.toFixed(1)} ms, monitoring ${backlog ?? '?'} rows behind`,
        );
      }
    } finally {
      clearInterval(sampler);
    }

    const stopped = Date.now();
    // Monitoring has caught up when the drift windows hold every answered row (the capacity stages' ones too) but
    // those that may wait in the one served version's window still open (monitoring stores a window when it closes).
    const expected = soakRows + capacity.answeredRows - (spec.monitoring.windowRows - 1);
    let merged = 0;
    let catchUpSeconds: number | undefined;
    for (let waited = 0; waited < 300; waited += 5) {
      merged = await observer.windowRows().catch(() => merged);
      if (merged >= expected) {
        catchUpSeconds = (Date.now() - stopped) / 1000;
        break;
      }
      await sleep(5_000, undefined, { signal: interruption.signal });
    }
    const minutes = minuteReports(soakMinutes, samples);
    const report: SoakReport = {
      date: new Date().toISOString(),
      commit: execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' }).trim(),
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
