import { type ServiceError, status } from '@grpc/grpc-js';
import { type InferInput, InferenceClient, SERVING_GRPC_ADDRESS } from '@keel/testing';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

/** One ModelInfer call as the caller saw it. */
export interface InferenceOutcome {
  startedAt: number;
  endedAt: number;
  /** Round trip in milliseconds, sub-millisecond resolution. */
  latencyMs: number;
  ok: boolean;
  /** gRPC status name of a failure (`UNAVAILABLE`), or `CLIENT_TIMEOUT` when no answer came in time. */
  code?: string;
  /** The failure's gRPC details (`No connection established`, ...), when it has any. */
  detail?: string;
  rows: number;
}

export interface InferenceTarget {
  modelName: string;
  /** Tensors of one request (columnTensors of a few rows). */
  inputs: InferInput[];
  rows: number;
  /** Prefix of the request ids: serving's prediction ids derive from them, so each traffic source uses its own. */
  requestIdPrefix: string;
}

/**
 * ModelInfer traffic through @keel/testing's InferenceClient, every outcome recorded: closed-loop (a few callers,
 * each sending its next request when the previous one returns) for the chaos run, open-loop (a fixed rate, whatever
 * the latency) for the soak. The channel reconnects within a second of serving coming back (outage-attribution.ts
 * counts a call refused meanwhile with the outage).
 */
export class InferenceTraffic {
  readonly outcomes: InferenceOutcome[] = [];
  private readonly client: InferenceClient;
  private sequence = 0;
  private running = false;
  private loops: Promise<void>[] = [];
  private readonly inFlight = new Set<Promise<InferenceOutcome>>();
  /** Open-loop ticks that found `maxInFlight` requests outstanding and sent nothing. */
  skipped = 0;

  constructor(
    private readonly target: InferenceTarget,
    private readonly timeoutMs = 10_000,
    address = SERVING_GRPC_ADDRESS,
  ) {
    this.client = new InferenceClient(address, {
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 1_000,
    });
  }

  /** Sends one request and records its outcome; never rejects. */
  send(): Promise<InferenceOutcome> {
    const startedAt = Date.now();
    const started = performance.now();
    const id = `${this.target.requestIdPrefix}-${(this.sequence++).toString(36)}`;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.timeoutMs);
    });
    let detail: string | undefined;
    const call = this.client.modelInfer({ modelName: this.target.modelName, id, inputs: this.target.inputs }).then(
      () => undefined,
      (error: ServiceError) => {
        detail = error.details;
        return status[error.code] ?? String(error.code);
      },
    );
    const outcome = Promise.race([call, timeout]).then((result): InferenceOutcome => {
      clearTimeout(timer);
      const failure = result === 'timeout' ? 'CLIENT_TIMEOUT' : result;
      const recorded: InferenceOutcome = {
        startedAt,
        endedAt: Date.now(),
        latencyMs: performance.now() - started,
        ok: failure === undefined,
        rows: this.target.rows,
        ...(failure === undefined ? {} : { code: failure }),
        ...(detail ? { detail } : {}),
      };
      this.outcomes.push(recorded);
      return recorded;
    });
    this.inFlight.add(outcome);
    void outcome.finally(() => this.inFlight.delete(outcome));
    return outcome;
  }

  /** `callers` loops, each sending back to back with `pauseMs` between requests. */
  startClosedLoop(callers: number, pauseMs: number): void {
    this.running = true;
    this.loops = Array.from({ length: callers }, async () => {
      while (this.running) {
        await this.send();
        if (pauseMs > 0) await sleep(pauseMs);
      }
    });
  }

  /** Sends at `perSecond` on schedule, whatever the latency, with at most `maxInFlight` outstanding. */
  startOpenLoop(perSecond: number, maxInFlight: number): void {
    this.running = true;
    const started = Date.now();
    let sent = 0;
    this.loops = [
      (async () => {
        while (this.running) {
          const due = Math.floor(((Date.now() - started) / 1000) * perSecond);
          for (; sent < due; sent++) {
            if (this.inFlight.size >= maxInFlight) this.skipped++;
            else void this.send();
          }
          await sleep(5);
        }
      })(),
    ];
  }

  /** Stops sending and waits for the outstanding requests. */
  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
    await Promise.all([...this.inFlight]);
    this.loops = [];
  }

  /** Rows of answered requests: what serving must have logged as predictions. */
  answeredRows(): number {
    return this.outcomes.reduce((sum, outcome) => sum + (outcome.ok ? outcome.rows : 0), 0);
  }

  /** Rows of requests that timed out here: serving may still have answered and logged them. */
  uncertainRows(): number {
    return this.outcomes.reduce((sum, outcome) => sum + (outcome.code === 'CLIENT_TIMEOUT' ? outcome.rows : 0), 0);
  }

  close(): void {
    this.client.close();
  }
}
