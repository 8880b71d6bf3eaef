import { type ELDHistogram, monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { setTimeout as sleep, setImmediate as yieldToLoop } from 'node:timers/promises';
import { type WorkerPool } from '@keel/workers';
import fc from 'fast-check';
import { FuzzCrash, type FuzzOutcome, type FuzzTarget } from './targets';

/** A case that takes longer than this is a hang, whatever it returned. */
export const CASE_DEADLINE_MS = 1_000;

export interface FuzzFailure {
  target: string;
  kind: 'crash' | 'hang';
  message: string;
  seed: number;
  /** The input, cut to 2,000 characters. */
  input: string;
}

export interface TargetFigures {
  target: string;
  limit: string;
  limitBytes: number;
  cases: number;
  accepted: number;
  rejected: number;
  /** Rejections by reason (error kind and message shape), most frequent first. */
  reasons: Record<string, number>;
  /** Slowest single decode among the generated cases, in wall time (includes waiting for a CPU on a busy machine). */
  worstCaseMs: number;
  /** Most CPU time (this process's, user + system) one generated case used: the decode's own cost. */
  worstCaseCpuMs?: number;
  /**
   * Largest event-loop delay seen while the generated cases ran (perf_hooks' monitorEventLoopDelay, 10 ms): the
   * decoding thread's, which is a worker thread's for decoders the service runs on one (`thread`).
   */
  maxEventLoopDelayMs: number;
  /** Where the service runs this decoder: on its event loop (main) or on a worker thread of its pool. */
  thread?: 'main' | 'worker';
  /** The inputs at the sizes the limits allow. */
  largest: {
    label: string;
    bytes: number;
    outcome: string;
    /** Decode time and CPU in the decoding thread (a worker's, for worker decoders). */
    decodeMs: number;
    cpuMs?: number;
    /** The service's main thread: the decode itself, or handing the input to a worker and awaiting its answer. */
    maxEventLoopDelayMs: number;
    /** Worker decoders: the worker's own event-loop delay while it decoded (it answers nothing else meanwhile). */
    workerLoopDelayMs?: number;
  }[];
  failures: FuzzFailure[];
  /** When, on which commit and under what load average the generated cases ran, and the inputs at the limit. */
  casesRun?: RunStamp;
  limitsRun?: RunStamp;
}

export interface RunStamp {
  date: string;
  commit: string;
  load: number[];
}

/** Called before each case (the watchdog's heartbeat). */
export type Heartbeat = (target: string, index: number) => void;

const preview = (input: unknown): string => {
  const text = Buffer.isBuffer(input)
    ? `<${input.length} bytes> ${input.subarray(0, 600).toString('utf8')}`
    : typeof input === 'string'
      ? input
      : JSON.stringify(input, (_key, value: unknown) =>
          typeof value === 'object' && value !== null && (value as { type?: unknown }).type === 'Buffer'
            ? `<bytes> ${Buffer.from((value as { data: number[] }).data.slice(0, 600)).toString('utf8')}`
            : value,
        );
  return (text ?? String(input)).slice(0, 2_000);
};

const sizeOf = (input: unknown): number =>
  Buffer.isBuffer(input)
    ? input.length
    : typeof input === 'string'
      ? Buffer.byteLength(input)
      : typeof input === 'object' && input !== null && 'bytes' in input && Buffer.isBuffer(input.bytes)
        ? input.bytes.length
        : typeof input === 'object' && input !== null && 'text' in input && typeof input.text === 'string'
          ? Buffer.byteLength(input.text)
          : typeof input === 'object' && input !== null && 'value' in input && Buffer.isBuffer(input.value)
            ? input.value.length
            : 0;

/**
 * Runs `cases` generated inputs through one target's decoder, in batches generated beforehand (so generation is not
 * counted), yielding to the event loop before and after each decode so the delay histogram sees each decode alone;
 * then its largest inputs, one at a time. Crashes (unclear errors) and hangs (a decode over CASE_DEADLINE_MS) are
 * collected, not thrown.
 */
export async function runTarget(
  target: FuzzTarget,
  {
    cases,
    seed,
    largest = true,
    heartbeat,
    pool,
  }: { cases: number; seed: number; largest?: boolean; heartbeat?: Heartbeat; pool?: () => WorkerPool },
): Promise<TargetFigures> {
  const reasons = new Map<string, number>();
  const failures: FuzzFailure[] = [];
  let accepted = 0;
  let worstCaseMs = 0;
  let worstCaseCpuMs = 0;
  let maxDelayNs = 0;
  const batch = 100;
  for (let done = 0, round = 0; done < cases; round++) {
    const inputs = fc.sample(target.arbitrary, { numRuns: Math.min(batch, cases - done), seed: seed + round });
    // Garbage the harness made (the batch just generated) is collected before timing, not during a decode.
    (globalThis as { gc?: () => void }).gc?.();
    const histogram = await startedHistogram();
    for (const input of inputs) {
      heartbeat?.(target.name, done);
      await yieldToLoop();
      const started = performance.now();
      const cpu = process.cpuUsage();
      try {
        const outcome = await target.decode(input);
        if (outcome.accepted) accepted++;
        else reasons.set(outcome.reason, (reasons.get(outcome.reason) ?? 0) + 1);
      } catch (error) {
        const message = error instanceof FuzzCrash ? error.message : `harness error: ${String(error)}`;
        failures.push({ target: target.name, kind: 'crash', message, seed: seed + round, input: preview(input) });
      }
      const took = performance.now() - started;
      const used = process.cpuUsage(cpu);
      worstCaseMs = Math.max(worstCaseMs, took);
      worstCaseCpuMs = Math.max(worstCaseCpuMs, (used.user + used.system) / 1000);
      if (took > CASE_DEADLINE_MS) {
        failures.push({
          target: target.name,
          kind: 'hang',
          message: `one decode took ${took.toFixed(0)} ms (deadline ${CASE_DEADLINE_MS} ms)`,
          seed: seed + round,
          input: preview(input),
        });
      }
      done++;
      await yieldToLoop();
    }
    await settle();
    histogram.disable();
    maxDelayNs = Math.max(maxDelayNs, histogram.max);
  }
  const figures: TargetFigures = {
    target: target.name,
    limit: target.limit.name,
    limitBytes: target.limit.bytes,
    cases,
    accepted,
    rejected: cases - accepted - failures.filter((f) => f.kind === 'crash').length,
    reasons: topReasons(reasons),
    worstCaseMs: round2(worstCaseMs),
    worstCaseCpuMs: round2(worstCaseCpuMs),
    maxEventLoopDelayMs: round2(maxDelayNs / 1e6),
    thread: target.offload ? 'worker' : 'main',
    largest: [],
    failures,
  };
  if (largest) {
    for (const { label, input } of target.largest()) {
      heartbeat?.(`${target.name} (${label})`, -1);
      const here = await measured(target.name, label, input, () => target.decode(input), failures);
      let main = here;
      if (target.offload && pool) {
        // The service's own path: the main thread hands the input to a worker; its loop delay is what counts.
        const offload = target.offload;
        main = await measured(target.name, `${label} (worker)`, input, () => offload(pool(), input), failures);
      }
      figures.largest.push({
        label,
        bytes: sizeOf(input),
        outcome: here.outcome,
        decodeMs: here.decodeMs,
        cpuMs: here.cpuMs,
        maxEventLoopDelayMs: main.loopMs,
        ...(main === here ? {} : { workerLoopDelayMs: here.loopMs }),
      });
    }
  }
  return figures;
}

/** One input decoded alone between two turns of the loop: its outcome, time, CPU and the loop's largest delay. */
async function measured(
  target: string,
  label: string,
  input: unknown,
  decode: () => FuzzOutcome | Promise<FuzzOutcome>,
  failures: FuzzFailure[],
): Promise<{ outcome: string; decodeMs: number; cpuMs: number; loopMs: number }> {
  (globalThis as { gc?: () => void }).gc?.();
  const loop = await startedHistogram();
  const started = performance.now();
  const cpu = process.cpuUsage();
  let outcome: string;
  try {
    const result = await decode();
    outcome = result.accepted ? 'accepted' : result.reason;
  } catch (error) {
    outcome = 'CRASH';
    failures.push({
      target,
      kind: 'crash',
      message: error instanceof Error ? error.message : String(error),
      seed: -1,
      input: `${label}: ${preview(input).slice(0, 300)}`,
    });
  }
  const decodeMs = performance.now() - started;
  const used = process.cpuUsage(cpu);
  await settle();
  loop.disable();
  return {
    outcome,
    decodeMs: round2(decodeMs),
    cpuMs: round2((used.user + used.system) / 1000),
    loopMs: round2(loop.max / 1e6),
  };
}

/**
 * A delay histogram that has already ticked: it measures the gap between two of its timer callbacks, so the first
 * callback must have run before the work it is to see (and a histogram re-enabled would count the time it was off).
 */
async function startedHistogram(): Promise<ELDHistogram> {
  const histogram = monitorEventLoopDelay({ resolution: 10 });
  histogram.enable();
  await settle();
  return histogram;
}

/** Two timer periods, so the histogram's timer fires after the last decode and records what it held up. */
const settle = () => sleep(25);

/** The 15 most frequent rejection reasons, the rest counted together. */
function topReasons(reasons: Map<string, number>): Record<string, number> {
  const sorted = [...reasons].sort((a, b) => b[1] - a[1]);
  const top = Object.fromEntries(sorted.slice(0, 15));
  const rest = sorted.slice(15);
  if (rest.length > 0) top[`(${rest.length} other reasons)`] = rest.reduce((sum, [, n]) => sum + n, 0);
  return top;
}

const round2 = (value: number) => Math.round(value * 100) / 100;
