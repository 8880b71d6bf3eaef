/**
 * `npm run fuzz:live [-- --cases N] [--group G] [--kafka-cases K] [--only <door part>,...] [--budget-seconds S]
 * [--no-docs]`: the fuzz's hostile inputs sent to the seven running services through their real doors (HTTP APIs,
 * serving's gRPC and REST, the registry's gRPC, uploads, Kafka records of every topic), with each service's own
 * event loop measured around every group of cases and every input at the sizes its limits allow. A service's loop
 * delay is read from its `/metrics` (reset on each read) and its main thread's CPU and run-queue wait from /proc, so
 * a delay that is the machine's scheduling (other work holding both cores) is told apart from the loop being held by
 * its own work.
 *
 * A group whose delay passes the bound is replayed one case at a time to find the case. Exits 1 when one input held
 * a service's loop over 100 ms with the main thread on a CPU for over 100 ms of that window (its own work), and
 * writes docs/security/fuzz-live.md and fuzz-live.json. Needs the stack; starts the services from this checkout if
 * none run (and stops them again), creates three pipelines of its own (`fuzz-model-*`, `fuzz-data-*`, `fuzz-spec-*`)
 * and trains a champion for the first, so OIP requests reach a model.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { performance } from 'node:perf_hooks';
import { execFileSync } from 'node:child_process';
import { createKafka, createProducer, silentLogger } from '@keel/messaging';
import {
  fixtureRecords,
  InferenceClient,
  pipelineSpecFixture,
  publishUpstreamRecords,
  repoRoot,
  SERVING_GRPC_ADDRESS,
  stackEndpoints,
  uniquePipelineId,
} from '@keel/testing';
import fc from 'fast-check';
import * as prettier from 'prettier';
import { applySpec, waitForChampion, waitForServing } from '../../demo/pipeline-client';
import { ensureServices, restoreServices } from '../../chaos/service-guard';
import { servicePid, services } from '../../services/services';
import { fuzzTargets } from '../targets';
import { liveDoors, type LiveDoor, type LivePipelines } from './doors';
import { type DoorFigures, LOOP_BOUND_MS } from './live-fuzz-figures';
import { liveMarkdown, type LiveRun } from './live-report';
import { type LoopWindow, ServiceProbe, worse } from './service-probe';

/** Quiet time after the last send of a window, so each loop's delay timer fires after the work it is to see. */
const TAIL_MS = 40;

const round1 = (ms: number) => Math.round(ms * 10) / 10;

function sizeOf(input: unknown): number {
  if (typeof input === 'function') return (input as () => Buffer)().length;
  if (typeof input === 'string') return Buffer.byteLength(input);
  if (Buffer.isBuffer(input)) return input.length;
  const value = (input as { value?: Buffer | null; bytes?: Buffer }).value ?? (input as { bytes?: Buffer }).bytes;
  return Buffer.isBuffer(value) ? value.length : 0;
}

function preview(input: unknown): string {
  const text =
    typeof input === 'string'
      ? input
      : Buffer.isBuffer(input)
        ? `<${input.length} bytes> ${input.subarray(0, 200).toString('latin1')}`
        : JSON.stringify(input, (_k, v: unknown) => ((v as { type?: string })?.type === 'Buffer' ? `<bytes>` : v));
  return (text ?? '').slice(0, 300);
}

class Probes {
  constructor(readonly all: ServiceProbe[]) {}
  async start(): Promise<void> {
    await Promise.all(this.all.map((p) => p.start()));
  }
  async end(): Promise<Record<string, LoopWindow>> {
    await sleep(TAIL_MS);
    const windows = await Promise.all(this.all.map(async (p) => [p.service, await p.end()] as const));
    return Object.fromEntries(windows);
  }
}

const over = (window: LoopWindow) => window.loopMaxMs > LOOP_BOUND_MS;
/**
 * Held by the service's own work: over the bound, and its main thread was on a CPU at least that long around the
 * delay (in the window, or in the sample where the delay was read and the one before it).
 */
const blocking = (window: LoopWindow) => over(window) && (window.ownCpuBoundMs ?? window.mainCpuMs) > LOOP_BOUND_MS;

/** Samples taken while one input was in flight. */
const SAMPLE_MS = 250;

/**
 * One window from consecutive samples: the largest delay, the CPU and waiting summed, and the bound on the loop's own
 * work in that delay: a delay read at the end of sample i (at most a few hundred ms long) began in sample i or i-1,
 * so the main thread's CPU in those two bounds what its own work can have held the loop.
 */
function combined(samples: LoopWindow[]): LoopWindow {
  let worst = 0;
  samples.forEach((sample, i) => {
    if (sample.loopMaxMs > samples[worst].loopMaxMs) worst = i;
  });
  const sum = (key: 'mainCpuMs' | 'mainWaitMs' | 'processCpuMs') =>
    round1(samples.reduce((total, sample) => total + sample[key], 0));
  return {
    loopMaxMs: samples[worst].loopMaxMs,
    mainCpuMs: sum('mainCpuMs'),
    mainWaitMs: sum('mainWaitMs'),
    processCpuMs: sum('processCpuMs'),
    ...(samples.length > 1
      ? { ownCpuBoundMs: round1(samples[worst].mainCpuMs + (worst > 0 ? samples[worst - 1].mainCpuMs : 0)) }
      : {}),
  };
}

async function runDoor(
  door: LiveDoor,
  probes: Probes,
  { cases, group, seed }: { cases: number; group: number; seed: number },
  log: (line: string) => void,
): Promise<DoorFigures> {
  const figures: DoorFigures = {
    door: door.name,
    owner: door.owner,
    limit: door.limit,
    cases: 0,
    groups: 0,
    outcomes: {},
    worstLatencyMs: 0,
    settleProblems: [],
    generated: {},
    overBound: [],
    largest: [],
  };
  const count = (outcome: string) => (figures.outcomes[outcome] = (figures.outcomes[outcome] ?? 0) + 1);
  const sendTimed = async (input: unknown) => {
    const started = performance.now();
    const outcome = await door.send(input);
    const took = performance.now() - started;
    figures.worstLatencyMs = Math.max(figures.worstLatencyMs, round1(took));
    return { outcome, took };
  };
  const settle = async () => {
    if (!door.settle) return;
    const started = performance.now();
    const problem = await door.settle();
    figures.settleWorstMs = Math.max(figures.settleWorstMs ?? 0, round1(performance.now() - started));
    if (problem && figures.settleProblems.length < 5) figures.settleProblems.push(problem);
  };
  const inputs = door.arbitrary ? fc.sample(door.arbitrary, { numRuns: cases, seed }) : [];
  for (let from = 0; from < inputs.length; from += group) {
    const batch = inputs.slice(from, from + group);
    await probes.start();
    const outcomes: string[] = [];
    for (const input of batch) outcomes.push((await sendTimed(input)).outcome);
    await settle();
    const windows = await probes.end();
    outcomes.forEach(count);
    figures.cases += batch.length;
    figures.groups++;
    for (const [service, window] of Object.entries(windows)) {
      figures.generated[service] = worse(figures.generated[service], window);
    }
    if (Object.values(windows).some(over)) {
      // Which case? Each again, alone (a delay that does not come back was the machine's, not the input's).
      for (const input of batch) {
        await probes.start();
        const { outcome } = await sendTimed(input);
        await settle();
        const alone = await probes.end();
        for (const [service, window] of Object.entries(alone)) {
          if (over(window)) figures.overBound.push({ input: preview(input), service, window, outcome });
        }
      }
    }
  }
  for (const { label, input } of door.largest()) {
    const bytes = sizeOf(input);
    await probes.start();
    // Read every SAMPLE_MS while the input is in flight (an upload of 100 MiB takes seconds), so a delay is set
    // against the CPU of the moments around it rather than of the whole send.
    const sending = sendTimed(input);
    let sent = false;
    void sending.finally(() => (sent = true)).catch(() => undefined);
    const samples: Record<string, LoopWindow>[] = [];
    while (!sent) {
      await Promise.race([sending, sleep(SAMPLE_MS)]);
      if (!sent) samples.push(await probes.end());
    }
    const { outcome, took } = await sending;
    await settle();
    if (door.afterLargestMs) await sleep(door.afterLargestMs);
    samples.push(await probes.end());
    const windows = Object.fromEntries(
      Object.keys(samples[0]).map((service) => [service, combined(samples.map((sample) => sample[service]))]),
    );
    const [worstService, window] = Object.entries(windows).reduce((a, b) => (b[1].loopMaxMs > a[1].loopMaxMs ? b : a));
    const ownerWindow = worstService === door.owner ? undefined : windows[door.owner];
    figures.largest.push({ label, bytes, outcome, latencyMs: round1(took), worstService, window, ownerWindow });
    log(
      `    ${label}: ${(bytes / 1024).toFixed(0)} KiB, ${outcome.slice(0, 60)}, ${took.toFixed(0)} ms; ` +
        `${worstService} loop ${window.loopMaxMs} ms (main thread CPU ${window.mainCpuMs} ms, waiting ${window.mainWaitMs} ms)` +
        (ownerWindow ? `; ${door.owner} ${ownerWindow.loopMaxMs} ms (CPU ${ownerWindow.mainCpuMs})` : ''),
    );
  }
  return figures;
}

async function trainChampion(pipelines: LivePipelines, log: (line: string) => void): Promise<void> {
  const kafka = createKafka({
    clientId: 'keel-fuzz-setup',
    brokers: stackEndpoints.kafkaBrokers,
    logger: silentLogger,
  });
  const producer = createProducer(kafka);
  await producer.connect();
  try {
    // No gates: a champion from a small training set is all the OIP doors need.
    for (const id of [pipelines.model, pipelines.data, pipelines.spec]) {
      await applySpec(JSON.stringify(pipelineSpecFixture('adult-income', { id, gates: [] })), id);
    }
    const spec = pipelineSpecFixture('adult-income', { id: pipelines.model, gates: [] });
    const records = fixtureRecords('adult', { count: 2_000, numeric: spec });
    await publishUpstreamRecords(producer, pipelines.model, records, { source: 'fuzz', batchSize: 1_000 });
    log(`fuzz:live: ${pipelines.model}: ${records.length} records published; waiting for a champion`);
    const champion = await waitForChampion(pipelines.model, 300_000);
    const client = new InferenceClient(SERVING_GRPC_ADDRESS);
    await waitForServing(client, pipelines.model, 120_000, champion.version);
    client.close();
    log(`fuzz:live: serving ${pipelines.model} v${champion.version}`);
  } finally {
    await producer.disconnect();
  }
}

function commit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      cases: { type: 'string', default: '100' },
      'kafka-cases': { type: 'string', default: '50' },
      group: { type: 'string', default: '25' },
      seed: { type: 'string', default: '20261203' },
      only: { type: 'string' },
      /**
       * Seconds for the doors (set-up not counted): past it, the remaining doors get only their inputs at the limit,
       * and past twice it none, so a run fits a booked slot on the shared stack.
       */
      'budget-seconds': { type: 'string', default: '0' },
      'no-docs': { type: 'boolean', default: false },
      /** Writes fuzz-live.md again from fuzz-live.json, running nothing. */
      'render-only': { type: 'boolean', default: false },
    },
  });
  const log = (line: string) => process.stdout.write(`${line}\n`);
  const dir = resolve(repoRoot, 'docs/security');
  // Written as prettier writes them, so the files pass the format check without a second step.
  const format = async (path: string, text: string) =>
    writeFileSync(path, await prettier.format(text, { ...(await prettier.resolveConfig(path)), filepath: path }));
  if (values['render-only']) {
    const run = JSON.parse(readFileSync(resolve(dir, 'fuzz-live.json'), 'utf8')) as LiveRun;
    await format(resolve(dir, 'fuzz-live.md'), liveMarkdown(run));
    return 0;
  }
  const startedAt = new Date();
  const found = await ensureServices(log);
  const kafka = createKafka({ clientId: 'keel-fuzz-live', brokers: stackEndpoints.kafkaBrokers, logger: silentLogger });
  const admin = kafka.admin();
  const producer = createProducer(kafka);
  const grpcClosers: (() => void)[] = [];
  try {
    await Promise.all([admin.connect(), producer.connect()]);
    const pipelines: LivePipelines = {
      model: uniquePipelineId('fuzz-model'),
      data: uniquePipelineId('fuzz-data'),
      spec: uniquePipelineId('fuzz-spec'),
    };
    await trainChampion(pipelines, log);
    const probes = new Probes(
      services.map(({ name, httpPort }) => new ServiceProbe(name, `http://127.0.0.1:${httpPort}`, servicePid(name))),
    );
    // What reading the loops costs by itself: two reads 1 s apart with nothing sent.
    await probes.start();
    await sleep(1_000);
    const idle = await probes.end();
    log(
      `fuzz:live: idle loop delay ${Object.entries(idle)
        .map(([s, w]) => `${s} ${w.loopMaxMs}`)
        .join(', ')} ms`,
    );
    const targets = fuzzTargets({ model: { modelName: pipelines.model, modelVersion: '' } });
    const doors = liveDoors(
      targets,
      {
        http: Object.fromEntries(services.map(({ name, httpPort }) => [name, `http://127.0.0.1:${httpPort}`])),
        servingGrpc: SERVING_GRPC_ADDRESS,
        registryGrpc: '127.0.0.1:50051',
      },
      pipelines,
      { admin, producer },
    ).filter((door) => !values.only || values.only.split(',').some((part) => door.name.includes(part)));
    for (const door of doors) if ('close' in door) grpcClosers.push((door as { close: () => void }).close);
    const results: DoorFigures[] = [];
    const failed: string[] = [];
    const budgetMs = Number(values['budget-seconds']) * 1000;
    const doorsStarted = Date.now();
    for (const [i, door] of doors.entries()) {
      const spent = Date.now() - doorsStarted;
      if (budgetMs > 0 && spent > 2 * budgetMs) {
        failed.push(`${door.name}: not run (time budget)`);
        continue;
      }
      const limitsOnly = budgetMs > 0 && spent > budgetMs;
      log(`  ${door.name}${limitsOnly ? ' (time budget spent: inputs at the limit only)' : ''}`);
      const kafkaDoor = door.name.startsWith('kafka ');
      let figures: DoorFigures;
      try {
        figures = await runDoor(
          door,
          probes,
          {
            cases: limitsOnly ? 0 : Number(kafkaDoor ? values['kafka-cases'] : values.cases),
            group: Number(values.group),
            seed: Number(values.seed) + i,
          },
          log,
        );
      } catch (error) {
        // The harness's own failure (a service that stopped answering /metrics): named, and the run goes on.
        log(`    FAILED: ${error instanceof Error ? error.message : String(error)}`);
        failed.push(`${door.name}: ${error instanceof Error ? error.message : String(error)}`);
        await probes.start().catch(() => undefined);
        continue;
      }
      if ('deadLetters' in door)
        figures.deadLetters = await (door as { deadLetters: () => Promise<number> }).deadLetters();
      const worst = Object.entries(figures.generated).reduce<[string, LoopWindow] | undefined>(
        (a, b) => (a === undefined || b[1].loopMaxMs > a[1].loopMaxMs ? b : a),
        undefined,
      );
      log(
        `    ${figures.cases} cases, ${Object.keys(figures.outcomes).length} outcomes, worst ${figures.worstLatencyMs} ms; ` +
          `generated groups: ${worst ? `${worst[0]} loop ${worst[1].loopMaxMs} ms (CPU ${worst[1].mainCpuMs}, waiting ${worst[1].mainWaitMs})` : '–'}` +
          `${figures.overBound.length ? `; ${figures.overBound.length} cases over the bound alone` : ''}`,
      );
      results.push(figures);
    }
    const run = {
      date: startedAt.toISOString(),
      finished: new Date().toISOString(),
      commit: commit(),
      seed: Number(values.seed),
      cores: cpus().length,
      loadAtStart: loadavg(),
      idle,
      results,
      failed,
    };
    if (!values['no-docs']) {
      mkdirSync(dir, { recursive: true });
      await format(resolve(dir, 'fuzz-live.json'), JSON.stringify(run));
      await format(resolve(dir, 'fuzz-live.md'), liveMarkdown(run));
      log('fuzz:live: wrote docs/security/fuzz-live.md and fuzz-live.json');
    }
    const blocked = results.flatMap((r) => [
      ...r.overBound.filter((c) => blocking(c.window)).map((c) => `${r.door}: ${c.service} ${c.window.loopMaxMs} ms`),
      ...r.largest
        .filter((l) => blocking(l.window))
        .map((l) => `${r.door} (${l.label}): ${l.worstService} ${l.window.loopMaxMs} ms`),
    ]);
    for (const line of blocked) log(`fuzz:live: held a loop over ${LOOP_BOUND_MS} ms: ${line}`);
    log(
      `fuzz:live: ${results.length} doors, ${results.reduce((s, r) => s + r.cases, 0)} cases, ${blocked.length} over the bound`,
    );
    for (const line of failed) log(`fuzz:live: door not measured: ${line}`);
    return blocked.length === 0 && failed.length === 0 ? 0 : 1;
  } finally {
    for (const close of grpcClosers) close();
    await Promise.allSettled([producer.disconnect(), admin.disconnect()]);
    await restoreServices(found);
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`fuzz:live: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(2);
  },
);
