import { type EventLoopUtilization, performance } from 'node:perf_hooks';
import { ServerBusyError } from './inference-errors';

/** When serving stops taking new inference calls (SERVING_MAX_IN_FLIGHT_REQUESTS, SERVING_MAX_QUEUE_DELAY_MS). */
export interface AdmissionLimits {
  /** Calls admitted and not yet answered. */
  maxInFlight: number;
  /** How late the event loop may run before new calls are refused; 0 turns this signal off. */
  maxQueueDelayMs: number;
  /**
   * Share of the time the event loop may be busy (0-1) before new calls are refused; 1 turns this signal off. A
   * loop that never waits for input has a backlog waiting in its sockets.
   */
  maxUtilization?: number;
}

/** Why a call was refused: the `reason` label of keel_serving_calls_shed_total. */
export type ShedReason = 'in-flight' | 'queue-delay' | 'saturated';

/** A refused call: RESOURCE_EXHAUSTED over gRPC, 429 with Retry-After over REST. */
export class LoadShedError extends ServerBusyError {
  constructor(
    message: string,
    readonly reason: ShedReason,
    /** When the caller may usefully retry (gRPC's grpc-retry-pushback-ms, REST's Retry-After). */
    readonly retryAfterMs: number,
  ) {
    super(message);
    this.name = 'LoadShedError';
  }
}

// How often the probe measures the event loop's lateness: fine enough to see a queue of a few tens of ms, cheap
// enough (a hundred timer callbacks a second) to run always.
const PROBE_INTERVAL_MS = 10;
// The event loop's utilization is read over windows of this length (every tenth probe tick).
const UTILIZATION_WINDOW_TICKS = 10;
// How long the loop must stay late before calls are refused: one long turn (a model being parsed, a GC pause, the
// machine taking the CPU away for a moment) delays the calls behind it once and is answered; only a loop that keeps
// running late is overloaded (CoDel's "above target for a whole interval").
const SUSTAINED_MS = 1_000;
// What a refused caller is told to wait: long enough for a backlog to drain, short enough not to idle a server that
// recovered.
const RETRY_AFTER_MS = 1_000;

/**
 * Admission control for inference: sheds load early and cheaply instead of queueing it. Under overload every call
 * that a Node server accepts waits for the event loop, and the calls not read yet wait in the sockets' buffers; neither
 * queue has a bound of its own: offered more than it could answer, serving answered later and later until callers'
 * deadlines passed (twenty seconds behind in the soak). Three signals refuse a new call before any work is done for
 * it (a refusal costs a status answer, so a backlog drains fast and the calls admitted are answered in time):
 *
 * - **in flight**: calls admitted and not yet answered reach `maxInFlight`. This bounds the work promised and the
 *   memory it holds (calls waiting for a batch to fill or its timer, a slow model).
 * - **queue delay**: a probe timer that should fire every 10 ms has fired more than `maxQueueDelayMs` late on every
 *   turn for a second (the loop's own queue).
 * - **saturation**: the loop has been busy more than `maxUtilization` of the time in every 100 ms window for a second.
 *   A loop that never waits for input has more of it waiting in its sockets, a queue no timer inside the process sees.
 *
 * A single long turn (a model parsed, a GC pause, the machine taking the CPU away for a moment) delays the calls behind
 * it once and is answered; only a loop that stays late or busy is overloaded (CoDel's "above target for a whole
 * interval"). Refusals stop as soon as a probe fires on time and a window has time to spare.
 */
export class AdmissionControl {
  private inFlightCalls = 0;
  private lastTickAt: number | undefined;
  private lateSince: number | undefined;
  private busySince: number | undefined;
  private ticks = 0;
  private utilizationMark: EventLoopUtilization | undefined;
  private probe: NodeJS.Timeout | undefined;

  constructor(
    private readonly limits: AdmissionLimits,
    private readonly now: () => number = () => performance.now(),
    private readonly utilization: (since?: EventLoopUtilization) => EventLoopUtilization = (since) =>
      performance.eventLoopUtilization(since),
  ) {}

  /** Calls admitted and not yet released. */
  get inFlight(): number {
    return this.inFlightCalls;
  }

  /**
   * Why serving is overloaded, if it is: its event loop has run later than the limit on every probe, or been busy
   * beyond the utilization limit in every window, for the sustained period.
   */
  overloaded(at = this.now()): ShedReason | undefined {
    if (this.lateSince !== undefined && at - this.lateSince >= SUSTAINED_MS) return 'queue-delay';
    if (this.busySince !== undefined && at - this.busySince >= SUSTAINED_MS) return 'saturated';
    return undefined;
  }

  /**
   * Admits a call, or throws LoadShedError saying which limit refused it. The returned function releases the call
   * once it is answered (exactly once, whatever the outcome).
   */
  admit(): () => void {
    this.startProbe();
    if (this.inFlightCalls >= this.limits.maxInFlight) {
      throw new LoadShedError(
        `serving has ${this.inFlightCalls} calls in flight, its limit (SERVING_MAX_IN_FLIGHT_REQUESTS); retry with backoff`,
        'in-flight',
        RETRY_AFTER_MS,
      );
    }
    const overloaded = this.overloaded();
    if (overloaded === 'queue-delay') {
      throw new LoadShedError(
        `serving has run more than ${this.limits.maxQueueDelayMs} ms behind for over ${SUSTAINED_MS / 1000} s (SERVING_MAX_QUEUE_DELAY_MS); retry with backoff`,
        overloaded,
        RETRY_AFTER_MS,
      );
    }
    if (overloaded === 'saturated') {
      throw new LoadShedError(
        `serving's event loop has been over ${Math.round(this.maxUtilization * 100)} % busy for over ${SUSTAINED_MS / 1000} s (SERVING_MAX_EVENT_LOOP_UTILIZATION); retry with backoff`,
        overloaded,
        RETRY_AFTER_MS,
      );
    }
    this.inFlightCalls++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.inFlightCalls--;
    };
  }

  /** Records one probe tick and how late it fired. Called by the probe's timer (and by tests). */
  tick(at = this.now()): void {
    const lateness = this.lastTickAt === undefined ? 0 : at - this.lastTickAt - PROBE_INTERVAL_MS;
    this.lastTickAt = at;
    if (this.limits.maxQueueDelayMs > 0 && lateness > this.limits.maxQueueDelayMs) this.lateSince ??= at;
    else this.lateSince = undefined;
    if (++this.ticks % UTILIZATION_WINDOW_TICKS === 0 || this.utilizationMark === undefined) {
      this.observeUtilization(at);
    }
  }

  private get maxUtilization(): number {
    return this.limits.maxUtilization ?? 1;
  }

  /** Reads the loop's utilization since the last window and keeps when it first stayed over the limit. */
  private observeUtilization(at: number): void {
    if (this.maxUtilization >= 1) return;
    const mark = this.utilization();
    if (this.utilizationMark !== undefined) {
      const window = this.utilization(this.utilizationMark);
      if (window.utilization > this.maxUtilization) this.busySince ??= at;
      else this.busySince = undefined;
    }
    this.utilizationMark = mark;
  }

  /** Stops the probe (the service's shutdown; the timer never holds the process open anyway). */
  close(): void {
    if (this.probe) clearInterval(this.probe);
    this.probe = undefined;
  }

  // Started by the first call rather than at construction, so a service or test that never infers runs no timer.
  private startProbe(): void {
    if (this.probe || (this.limits.maxQueueDelayMs <= 0 && this.maxUtilization >= 1)) return;
    this.tick();
    this.probe = setInterval(() => this.tick(), PROBE_INTERVAL_MS);
    this.probe.unref();
  }
}
