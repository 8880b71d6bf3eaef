/**
 * `npm run fuzz [-- --cases N] [--seed S] [--only <name part>] [--no-docs]`: property-based fuzzing (fast-check) of
 * every external decoder, 10,000 generated cases each by default, then each decoder's inputs at the sizes its limit
 * allows. Fails (exit 1) on any crash (an error that is not a clear rejection), any decode over the per-case deadline
 * and any event-loop delay over 100 ms; writes docs/security/fuzz.md and fuzz.json. A watchdog thread kills the run
 * if one decode never returns, naming the decoder.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { execFileSync } from 'node:child_process';
import { repoRoot } from '@keel/testing';
import { WorkerPool } from '@keel/workers';
import { CASE_DEADLINE_MS, type RunStamp, runTarget, type TargetFigures } from './run-fuzz';
import { fuzzTargets } from './targets';

/** The acceptance bound: no single input holds the main thread's event loop longer. */
const MAX_EVENT_LOOP_DELAY_MS = 100;
/** A decode that has not returned after this long is a hang; the watchdog ends the run. */
const WATCHDOG_MS = 60_000;

function startWatchdog(): { beat: (target: string, index: number) => void; stop: () => void } {
  const shared = new SharedArrayBuffer(8);
  const lastBeat = new Float64Array(shared);
  let current = '';
  const worker = new Worker(
    `const { workerData } = require('node:worker_threads');
     const beat = new Float64Array(workerData.shared);
     setInterval(() => {
       if (beat[0] > 0 && Date.now() - beat[0] > workerData.limit) {
         process.stderr.write('fuzz: no decode returned for ' + workerData.limit + ' ms: a hang; killing the run\\n');
         process.kill(process.pid, 'SIGKILL');
       }
     }, 1000);`,
    { eval: true, workerData: { shared, limit: WATCHDOG_MS } },
  );
  worker.unref();
  return {
    beat: (target, index) => {
      lastBeat[0] = Date.now();
      if (target !== current) {
        current = target;
        if (index >= 0) process.stdout.write(`  ${target}\n`);
      }
    },
    stop: () => void worker.terminate(),
  };
}

function commit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

const fmt = (n: number) => n.toLocaleString('en-US');
const mib = (bytes: number) =>
  bytes >= 1024 * 1024
    ? `${(bytes / 1024 / 1024).toFixed(bytes % (1024 * 1024) ? 1 : 0)} MiB`
    : `${fmt(Math.round(bytes / 1024))} KiB`;

function markdown(
  run: {
    date: string;
    commit: string;
    cases: number;
    seed: number;
    load: number[];
    results: TargetFigures[];
  },
  decoders: number,
): string {
  const rows = run.results.map(
    (r) =>
      `| ${r.target} | ${r.thread ?? 'main'} | ${fmt(r.cases)} | ${fmt(r.accepted)} | ${fmt(r.rejected)} | ${r.failures.length} | ${r.worstCaseMs} | ${r.worstCaseCpuMs ?? '–'} | ${r.maxEventLoopDelayMs} | ${Math.max(0, ...r.largest.map((l) => l.maxEventLoopDelayMs))} |`,
  );
  const largest = run.results.flatMap((r) =>
    r.largest.map(
      (l) =>
        `| ${r.target} | ${l.label} | ${mib(l.bytes)} | ${l.outcome.slice(0, 80).replace(/\|/g, '/')} | ${l.decodeMs} | ${l.cpuMs ?? '–'} | ${l.workerLoopDelayMs ?? '–'} | ${l.maxEventLoopDelayMs} |`,
    ),
  );
  const reasons = run.results.map((r) => {
    const top = Object.entries(r.reasons).slice(0, 6);
    const more = Object.keys(r.reasons).length - top.length;
    return `- **${r.target}** (${r.limit}): ${top.map(([reason, n]) => `${fmt(n)} × \`${reason.replace(/`/g, "'")}\``).join('; ')}${more > 0 ? `; and ${more} other reasons` : ''}`;
  });
  // One line per run (same commit, started within the same hour), with the load averages its decoders saw.
  const byRun = new Map<string, { targets: string[]; loads: number[] }>();
  for (const r of run.results) {
    for (const [what, at] of [
      ['generated cases', r.casesRun],
      ['inputs at the limit', r.limitsRun],
    ] as const) {
      const key = at
        ? `${what}: ${at.date.slice(0, 13).replace('T', ' ')}h UTC, commit ${at.commit}`
        : `${what}: unknown`;
      const entry = byRun.get(key) ?? { targets: [], loads: [] };
      entry.targets.push(r.target);
      if (at) entry.loads.push(at.load[0]);
      byRun.set(key, entry);
    }
  }
  const runs = [...byRun].map(
    ([key, { targets, loads }]) =>
      `- ${key}, 1-minute load average ${Math.min(...loads).toFixed(1)} to ${Math.max(...loads).toFixed(1)}: ` +
      `${targets.length === run.results.length ? 'every decoder' : targets.join(', ')}`,
  );
  const failures = run.results.flatMap((r) => r.failures);
  const worstLimit = Math.max(...run.results.flatMap((r) => r.largest.map((l) => l.maxEventLoopDelayMs)));
  const worstCpu = Math.max(...run.results.map((r) => r.worstCaseCpuMs ?? 0));
  const worstGenerated = Math.max(...run.results.map((r) => r.maxEventLoopDelayMs));
  return `# Fuzzing the external decoders

\`npm run fuzz\` (tools/fuzz) generates hostile inputs with fast-check for every decoder an outsider can reach and
runs each through the real decoding code: Kafka records of every topic (the consumer's size and depth checks,
CloudEvents envelope, contract schema), CSV uploads (the upload task: streaming parser, record checks, Parquet),
pipeline specs (YAML text, and JSON through the HTTP body parser), Open Inference Protocol requests (a gRPC
\`ModelInferRequest\` off the wire, REST JSON, REST with the binary extension) and model packages (parse and
structural validation). Inputs are valid documents mutated (fields replaced, deleted, wrapped, duplicated; huge
numbers, long strings; bytes flipped, cut and inserted), documents built from random parts, deep nesting and random
bytes. A case passes when it is accepted or rejected with a clear error (the decoder's own error type, with a
message); anything else is a crash. Then each decoder gets its inputs at the sizes its limit allows.

This run measures the decoding code in one process. What the running services' own event loops do with the same
inputs, sent through their doors (HTTP, gRPC, uploads, Kafka), is measured by \`npm run fuzz:live\`:
[fuzz-live.md](fuzz-live.md).

Runs (a decoder's figures are replaced only when it is run again; \`--limits-only\` measures the inputs at the limit
alone, under \`/work/notes/quiet\` so that no other work waits for the CPU):

${runs.join('\n')}

${run.results.length < decoders ? `**Partial: ${run.results.length} of ${decoders} decoders measured so far (\`npm run fuzz -- --resume\` runs the rest).**\n\n` : ''}Written ${run.date.slice(0, 16).replace('T', ' ')} UTC: ${fmt(run.cases)} cases per decoder (seed ${run.seed}) on ${cpus().length} cores. **${failures.length === 0 ? 'No crash, no hang' : `${failures.length} failures`}. At the sizes the limits allow, a service's event loop was held at most ${worstLimit} ms** (bound: ${MAX_EVENT_LOOP_DELAY_MS} ms). The generated cases, each smaller than those, held the decoding thread at most ${worstGenerated} ms of wall time (at most ${worstCpu} ms of CPU for one case, where CPU was measured) under the load averages above; on a machine shared with other work, wall time also counts waiting for a CPU.

Event-loop delay is perf_hooks' \`monitorEventLoopDelay\` (10 ms resolution), with each decode run alone between two
turns of the loop, so it is what one input holds the loop for; on a busy machine it also counts time spent waiting
for a CPU, which the CPU columns (process-wide CPU time of one decode) do not. Two decoders run on a worker thread
of the service's pool, not on its event loop (thread \`worker\`): CSV uploads (ingestion streams the body's chunks
to the upload task) and pipeline specs sent as text (the registry parses YAML and JSON text there). For them the
generated cases and the decode columns are the worker's cost, and each input at the limit is sent a second time the
service's way, through a real worker pool, with the main thread's event loop measured: that is the "main thread"
column, the figure held to the bound. A worker runs one task at a time and answers no request, Kafka heartbeat or
probe meanwhile.

| decoder | thread | cases | accepted | rejected | failures | worst case (ms) | max CPU per case (ms) | max loop delay (ms) | at the limit: main thread's max loop delay (ms) |
| ------- | ------ | ----: | -------: | -------: | -------: | --------------: | --------------------: | ------------------: | ----------------------------------------------: |
${rows.join('\n')}

## At the sizes the limits allow

| decoder | input | size | outcome | decode (ms) | CPU (ms) | worker's loop delay (ms) | main thread's loop delay (ms) |
| ------- | ----- | ---: | ------- | ----------: | -------: | -----------------------: | ----------------------------: |
${largest.join('\n')}

## Rejections by reason

${reasons.join('\n')}
${failures.length === 0 ? '' : `\n## Failures\n\n${failures.map((f) => `- ${f.target} (${f.kind}, seed ${f.seed}): ${f.message}`).join('\n')}\n`}`;
}

/** The delays a service's event loop sees: generated cases of main-thread decoders, and every input at the limit. */
function mainThreadDelays(r: TargetFigures): { label: string; ms: number }[] {
  return [
    ...(r.thread === 'worker' ? [] : [{ label: 'generated cases', ms: r.maxEventLoopDelayMs }]),
    ...r.largest.map((l) => ({ label: l.label, ms: l.maxEventLoopDelayMs })),
  ];
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      cases: { type: 'string', default: '10000' },
      seed: { type: 'string', default: '20261202' },
      only: { type: 'string' },
      /** Keeps the figures of decoders already in docs/security/fuzz.json and runs only the others (a run cut short). */
      resume: { type: 'boolean', default: false },
      /** Measures only the inputs at the sizes the limits allow, keeping each decoder's generated-case figures. */
      'limits-only': { type: 'boolean', default: false },
      /** Keeps each decoder's figures at the limit from the earlier run (measured under quiet), replacing the rest. */
      'keep-limits': { type: 'boolean', default: false },
      /** Writes fuzz.md again from fuzz.json, running nothing. */
      'render-only': { type: 'boolean', default: false },
      'no-docs': { type: 'boolean', default: false },
    },
  });
  const limitsOnly = values['limits-only'];
  const cases = limitsOnly ? 0 : Number(values.cases);
  const seed = Number(values.seed);
  const dir = resolve(repoRoot, 'docs/security');
  const jsonPath = resolve(dir, 'fuzz.json');
  const writeDocs = !values['no-docs'];
  // Figures are merged into the docs decoder by decoder as each finishes, so a run cut short keeps what it measured.
  const previousRun =
    writeDocs && existsSync(jsonPath)
      ? (JSON.parse(readFileSync(jsonPath, 'utf8')) as { results: TargetFigures[] } & RunStamp)
      : undefined;
  // Figures written before runs were stamped per decoder carry the file's one stamp.
  const fileStamp: RunStamp | undefined = previousRun && {
    date: previousRun.date,
    commit: previousRun.commit,
    load: previousRun.load,
  };
  const previous: TargetFigures[] = (previousRun?.results ?? []).map((r) => ({
    ...r,
    casesRun: r.casesRun ?? fileStamp,
    limitsRun: r.limitsRun ?? fileStamp,
  }));
  const all = fuzzTargets();
  if (values['render-only']) {
    if (!previousRun) throw new Error('--render-only needs docs/security/fuzz.json');
    writeFileSync(
      resolve(dir, 'fuzz.md'),
      markdown(
        { ...(previousRun as unknown as Parameters<typeof markdown>[0]), results: previous },
        fuzzTargets().length,
      ),
    );
    return 0;
  }
  if (limitsOnly && previous.length === 0) throw new Error('--limits-only needs the figures of an earlier run');
  const done = new Set(values.resume ? previous.filter((r) => r.cases === cases).map((r) => r.target) : []);
  const targets = all.filter((target) => (!values.only || target.name.includes(values.only)) && !done.has(target.name));
  const watchdog = startWatchdog();
  const results: TargetFigures[] = [];
  const save = () => {
    if (!writeDocs) return;
    const kept = new Map(previous.map((r) => [r.target, r]));
    // A limits-only run keeps the generated-case figures it did not measure.
    const fresh = new Map(
      results.map((r) => {
        const before = kept.get(r.target);
        return [
          r.target,
          limitsOnly && before
            ? { ...before, largest: r.largest, limitsRun: r.limitsRun, failures: [...before.failures, ...r.failures] }
            : values['keep-limits'] && before
              ? { ...r, largest: before.largest, limitsRun: before.limitsRun }
              : r,
        ];
      }),
    );
    const merged = all.flatMap((t) => fresh.get(t.name) ?? kept.get(t.name) ?? []);
    const casesRun = Math.max(...merged.map((r) => r.cases));
    const run = {
      date: new Date().toISOString(),
      commit: commit(),
      cases: casesRun,
      seed,
      load: loadavg(),
      results: merged,
    };
    mkdirSync(dir, { recursive: true });
    writeFileSync(jsonPath, `${JSON.stringify(run, null, 2)}\n`);
    writeFileSync(resolve(dir, 'fuzz.md'), markdown(run, all.length));
  };
  process.stdout.write(
    `fuzz: ${targets.length} decoders, ${fmt(cases)} cases each (seed ${seed}), deadline ${CASE_DEADLINE_MS} ms per case\n`,
  );
  // One thread, as a service's pool would have free for the task; started only when a worker decoder runs.
  let workers: WorkerPool | undefined;
  const pool = () => (workers ??= new WorkerPool({ threads: 1 }));
  for (const target of targets) {
    const casesStarted = { date: new Date().toISOString(), commit: commit(), load: loadavg() };
    const figures = await runTarget(target, { cases, seed, heartbeat: watchdog.beat, pool });
    figures.casesRun = casesStarted;
    figures.limitsRun = { date: new Date().toISOString(), commit: commit(), load: loadavg() };
    results.push(figures);
    save();
    const atLimit = Math.max(0, ...figures.largest.map((l) => l.maxEventLoopDelayMs));
    process.stdout.write(
      `    ${fmt(figures.accepted)} accepted, ${fmt(figures.rejected)} rejected (${Object.keys(figures.reasons).length} reasons), ` +
        `${figures.failures.length} failures; worst case ${figures.worstCaseMs} ms, loop delay ${figures.maxEventLoopDelayMs} ms, ` +
        `at the limit ${atLimit} ms\n`,
    );
    for (const l of figures.largest) {
      process.stdout.write(
        `      ${l.label}: ${mib(l.bytes)}, ${l.outcome.slice(0, 70)}, ${l.decodeMs} ms, loop ${l.maxEventLoopDelayMs} ms` +
          `${l.workerLoopDelayMs === undefined ? '' : ` (worker's ${l.workerLoopDelayMs} ms)`}\n`,
      );
    }
    for (const failure of figures.failures.slice(0, 5)) {
      process.stdout.write(
        `    FAIL ${failure.kind}: ${failure.message}\n      input: ${failure.input.slice(0, 300)}\n`,
      );
    }
  }
  watchdog.stop();
  await workers?.close();
  if (writeDocs) process.stdout.write(`fuzz: wrote docs/security/fuzz.md and fuzz.json\n`);
  const slow = results.flatMap((r) =>
    mainThreadDelays(r)
      .filter(({ ms }) => ms > MAX_EVENT_LOOP_DELAY_MS)
      .map(({ label, ms }) => `${r.target} (${label}): ${ms} ms`),
  );
  const failures = results.flatMap((r) => r.failures);
  for (const line of slow) process.stdout.write(`fuzz: event-loop delay over ${MAX_EVENT_LOOP_DELAY_MS} ms: ${line}\n`);
  process.stdout.write(
    `fuzz: ${results.length} decoders, ${fmt(results.reduce((sum, r) => sum + r.cases, 0))} cases, ${failures.length} failures, ${slow.length} over the delay bound\n`,
  );
  return failures.length === 0 && slow.length === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`fuzz: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(2);
  },
);
