import { type LoopWindow } from './service-probe';
import { type DoorFigures, LOOP_BOUND_MS } from './live-fuzz-figures';

export interface LiveRun {
  date: string;
  finished: string;
  commit: string;
  seed: number;
  cores: number;
  loadAtStart: number[];
  idle: Record<string, LoopWindow>;
  results: DoorFigures[];
  /** Doors the run could not measure, and why. */
  failed?: string[];
}

const fmt = (n: number) => n.toLocaleString('en-US');
const size = (bytes: number) =>
  bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1)} MiB` : `${fmt(Math.round(bytes / 1024))} KiB`;
const cell = (text: string) => text.replace(/\|/g, '/').replace(/`/g, "'");
const win = (w: LoopWindow) =>
  `${w.loopMaxMs} | ${w.mainCpuMs}${w.ownCpuBoundMs === undefined ? '' : ` (${w.ownCpuBoundMs} around the delay)`} | ${w.mainWaitMs}`;
/** The main thread's CPU that can have held the loop in its largest delay. */
const ownCpu = (w: LoopWindow) => w.ownCpuBoundMs ?? w.mainCpuMs;

/** Per service, its most delayed window over the whole run (generated groups and inputs at the limit). */
function worstPerService(run: LiveRun): Map<string, { window: LoopWindow; where: string }> {
  const worst = new Map<string, { window: LoopWindow; where: string }>();
  const consider = (service: string, window: LoopWindow, where: string) => {
    const seen = worst.get(service);
    if (!seen || window.loopMaxMs > seen.window.loopMaxMs) worst.set(service, { window, where });
  };
  for (const r of run.results) {
    for (const [service, window] of Object.entries(r.generated))
      consider(service, window, `${r.door}, generated cases`);
    for (const l of r.largest) consider(l.worstService, l.window, `${r.door}: ${l.label}`);
  }
  return worst;
}

/** docs/security/fuzz-live.md from one run of `npm run fuzz:live`. */
export function liveMarkdown(run: LiveRun): string {
  const worst = worstPerService(run);
  const cases = run.results.reduce((sum, r) => sum + r.cases, 0);
  // Single inputs: each input at the limit, and each generated case replayed alone after its group passed the bound.
  const singles = run.results.flatMap((r) => [
    ...r.largest.map((l) => ({ what: `${r.door}: ${l.label}`, service: l.worstService, window: l.window })),
    ...r.overBound.map((c) => ({ what: `${r.door}: a generated case`, service: c.service, window: c.window })),
  ]);
  const worstSingle = singles.reduce((a, b) => (b.window.loopMaxMs > a.window.loopMaxMs ? b : a));
  const overSingles = singles.filter((x) => x.window.loopMaxMs > LOOP_BOUND_MS);
  const heldByWork = overSingles.filter((x) => ownCpu(x.window) > LOOP_BOUND_MS);
  const describe = (x: (typeof singles)[number]) =>
    `${x.service} ${x.window.loopMaxMs} ms (${x.what}; main thread on a CPU ${ownCpu(x.window)} ms, waiting ${x.window.mainWaitMs} ms)`;
  const replayed = run.results.reduce((n, r) => n + r.overBound.length, 0);
  const groupWorst = Math.max(...run.results.flatMap((r) => Object.values(r.generated).map((w) => w.loopMaxMs)));
  const latency = run.results.reduce((a, r) => (r.worstLatencyMs > a.worstLatencyMs ? r : a));
  const largestLatency = run.results
    .flatMap((r) => r.largest.map((l) => ({ door: r.door, ...l })))
    .reduce((a, b) => (b.latencyMs > a.latencyMs ? b : a));
  const services = [...worst.entries()].sort((a, b) => b[1].window.loopMaxMs - a[1].window.loopMaxMs);
  return `# Fuzzing the running services

\`npm run fuzz:live\` (tools/fuzz/live) sends the fuzz's hostile inputs (tools/fuzz/targets.ts: generated with
fast-check) to the seven services running on the local stack, through their real doors: serving's OIP over gRPC and
REST (JSON and the binary extension), the registry's spec API (YAML and JSON) and its gRPC reads, ingestion's
uploads, JSON bodies of the other write routes, reads with hostile ids, and Kafka records of every topic (waited for
until every consumer group assigned the topic has committed them). Then each door gets its inputs at the sizes its
limit allows, one at a time. The in-process run (\`npm run fuzz\`, [fuzz.md](fuzz.md)) puts 10,000 cases through
each decoder; this one checks what the services' event loops actually do.

**What is measured.** Each service's own event loop: prom-client's \`nodejs_eventloop_lag_max_seconds\` on its
\`/metrics\` (perf_hooks' \`monitorEventLoopDelay\`, 10 ms resolution, reset on every read), read before and after
every group of cases and every input at the limit, on all seven services. On a machine
shared with other work, a delay is the loop's own work or waiting for a CPU; so with every delay come the main
thread's CPU time in the same window and its time waiting on a run queue (the kernel's \`schedstat\` for the main
thread). A window over ${LOOP_BOUND_MS} ms is the service's own blocking only if its main thread was also on a CPU
for over ${LOOP_BOUND_MS} ms in it; a group over the bound is replayed one case at a time. An input at the limit is
read every 250 ms while in flight (an upload takes seconds): the CPU "around the delay" is the main thread's in the
sample where the largest delay was read and the one before, where that delay began. Latency is the client's wall
time of one send (for Kafka, the publish; consumption in "settle").

Run ${run.date.slice(0, 16).replace('T', ' ')} to ${run.finished.slice(11, 16)} UTC, commit ${run.commit}, seed
${run.seed}, ${run.cores} cores, 1-minute load average ${run.loadAtStart[0].toFixed(1)} at the start. **${fmt(cases)}
generated cases through ${run.results.length} doors, plus ${fmt(run.results.reduce((s, r) => s + r.largest.length, 0))} inputs at the limits.**
Each input alone (at the limits, and generated cases replayed alone): the worst delay was ${describe(worstSingle)}.
${overSingles.length === 0 ? `None held a service's loop over ${LOOP_BOUND_MS} ms.` : `Over ${LOOP_BOUND_MS} ms: ${overSingles.map(describe).join('; ')}. ${heldByWork.length === 0 ? `In none of them was the main thread on a CPU for ${LOOP_BOUND_MS} ms around the delay: the rest was waiting for a CPU (scheduling on the shared machine).` : `With the main thread on a CPU over ${LOOP_BOUND_MS} ms in that window (the loop's own work can have held it that long): ${heldByWork.map(describe).join('; ')}.`}`}
Generated cases in groups: the worst group delay was ${groupWorst} ms; ${replayed === 0 ? 'every group over the bound was replayed case by case and no case stayed over alone' : `${replayed} case(s) stayed over the bound when replayed alone (listed at the end)`}.
Worst latency: ${latency.worstLatencyMs} ms for one generated case (${latency.door}); ${largestLatency.latencyMs} ms for
one input at the limit (${largestLatency.door}: ${largestLatency.label}).

${run.failed?.length ? `**Not measured:** ${run.failed.join('; ')}.\n\n` : ''}Idle (two reads 1 s apart, nothing sent): ${Object.entries(
    run.idle,
  )
    .map(([s, w]) => `${s} ${w.loopMaxMs} ms`)
    .join(', ')}.

## Worst event-loop delay per service

| service | max loop delay (ms) | main thread CPU in that window (ms) | main thread waiting for a CPU (ms) | when |
| ------- | ------------------: | ----------------------------------: | ---------------------------------: | ---- |
${services.map(([service, { window, where }]) => `| ${service} | ${win(window)} | ${cell(where)} |`).join('\n')}

## Doors

| door | owner | cases | outcomes | worst latency (ms) | most delayed service, generated groups | its loop delay (ms) | main CPU (ms) | waiting (ms) | cases over the bound alone |
| ---- | ----- | ----: | -------: | -----------------: | -------------------------------------- | ------------------: | ------------: | -----------: | -------------------------: |
${run.results
  .map((r) => {
    const [service, window] = Object.entries(r.generated).reduce<[string, LoopWindow]>(
      (a, b) => (b[1].loopMaxMs > a[1].loopMaxMs ? b : a),
      ['–', { loopMaxMs: 0, mainCpuMs: 0, mainWaitMs: 0, processCpuMs: 0 }],
    );
    return `| ${cell(r.door)} | ${r.owner} | ${fmt(r.cases)} | ${Object.keys(r.outcomes).length} | ${r.worstLatencyMs}${r.settleWorstMs === undefined ? '' : ` (settle ${r.settleWorstMs})`} | ${service} | ${win(window)} | ${r.overBound.length} |`;
  })
  .join('\n')}

## At the sizes the limits allow

| door | input | size | outcome | latency (ms) | most delayed service | loop delay (ms) | main CPU (ms) | waiting (ms) | the door's service, if another: loop delay / main CPU (ms) |
| ---- | ----- | ---: | ------- | -----------: | -------------------- | --------------: | ------------: | -----------: | ---------------------------------------------------------- |
${run.results
  .flatMap((r) =>
    r.largest.map(
      (l) =>
        `| ${cell(r.door)} | ${cell(l.label)} | ${size(l.bytes)} | ${cell(l.outcome.slice(0, 70))} | ${l.latencyMs} | ${l.worstService} | ${win(l.window)} | ${l.ownerWindow ? `${l.ownerWindow.loopMaxMs} / ${l.ownerWindow.mainCpuMs}` : ''} |`,
    ),
  )
  .join('\n')}

## Outcomes by reason

${run.results
  .map((r) => {
    const sorted = Object.entries(r.outcomes).sort((a, b) => b[1] - a[1]);
    const top = sorted.slice(0, 6).map(([reason, n]) => `${fmt(n)} × \`${reason.replace(/`/g, "'")}\``);
    const more = sorted.length - 6;
    const extra = [
      r.deadLetters === undefined ? '' : `; ${fmt(r.deadLetters)} dead letters`,
      r.settleProblems.length ? `; ${r.settleProblems.join('; ')}` : '',
    ].join('');
    return `- **${r.door}**: ${top.join('; ')}${more > 0 ? `; and ${more} other reasons` : ''}${extra}`;
  })
  .join('\n')}
${
  run.results.some((r) => r.overBound.length)
    ? `\n## Cases over the bound when replayed alone\n\n${run.results
        .flatMap((r) =>
          r.overBound.map(
            (c) =>
              `- ${r.door} → ${c.service}: ${c.window.loopMaxMs} ms (main CPU ${c.window.mainCpuMs} ms, waiting ${c.window.mainWaitMs} ms), ${cell(c.outcome.slice(0, 60))}: \`${cell(c.input.slice(0, 120))}\``,
          ),
        )
        .join('\n')}\n`
    : ''
}`;
}
