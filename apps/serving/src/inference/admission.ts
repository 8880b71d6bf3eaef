import { ServerBusyError } from './inference-errors';

/** When serving stops taking new inference calls (SERVING_MAX_IN_FLIGHT_REQUESTS, SERVING_MAX_QUEUE_DELAY_MS). */
export interface AdmissionLimits {
  /** Calls admitted and not yet answered. */
  maxInFlight: number;
  /** How late the event loop may run before new calls are refused; 0 turns this signal off. */
  maxQueueDelayMs: number;
}

/** Why a call was refused: the `reason` label of keel_serving_calls_shed_total. */
export type ShedReason = 'in-flight' | 'queue-delay';

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
// How long the loop must stay late before calls are refused: one long turn (a model being parsed, a GC pause, the
// machine taking the CPU away for a moment) delays the calls behind it once and is answered; only a loop that keeps
// running late is overloaded (CoDel's "above target for a whole interval").
const SUSTAINED_MS = 1_000;
// What a refused caller is told to wait: long enough for a backlog to drain, short enough not to idle a server that
// recovered.
const RETRY_AFTER_MS = 1_000;

/**
 * Admission control for inference: sheds load early and cheaply instead of queueing it. Under overload every call
 * that a Node server accepts waits for the event loop, whose queue (the requests read off the sockets and not yet
 * answered, and those still in the sockets' buffers) has no bound of its own: offered more than it could answer,
 * serving answered later and later until callers' deadlines passed (twenty seconds behind in the soak). Two signals
 * refuse a new call before any work is done for it:
 *
 * - **in flight**: calls admitted and not yet answered reach `maxInFlight`. This bounds memory and the work of one
 *   turn of the loop: calls read off a socket together are admitted together and answered in a later phase.
 * - **queue delay**: a probe timer that should fire every 10 ms has fired more than `maxQueueDelayMs` late on every
 *   turn for a second. Calls are refused until it fires on time again, which refusing (a status answer each) soon
 *   brings about, so the backlog drains and the calls admitted are answered in time.
 *
 * CoDel's and Envoy's adaptive-concurrency idea, reduced to what one event loop can measure.
 */
export class AdmissionControl {
  private inFlightCalls = 0;
  private lastTickAt: number | undefined;
  private lateSince: number | undefined;
  private probe: NodeJS.Timeout | undefined;

  constructor(
    private readonly limits: AdmissionLimits,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Calls admitted and not yet released. */
  get inFlight(): number {
    return this.inFlightCalls;
  }

  /** Whether the event loop has run later than the limit on every probe for the sustained period. */
  overloaded(at = this.now()): boolean {
    return this.lateSince !== undefined && at - this.lateSince >= SUSTAINED_MS;
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
    if (this.overloaded()) {
      throw new LoadShedError(
        `serving has run more than ${this.limits.maxQueueDelayMs} ms behind for over ${SUSTAINED_MS / 1000} s (SERVING_MAX_QUEUE_DELAY_MS); retry with backoff`,
        'queue-delay',
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
  }

  /** Stops the probe (the service's shutdown; the timer never holds the process open anyway). */
  close(): void {
    if (this.probe) clearInterval(this.probe);
    this.probe = undefined;
  }

  // Started by the first call rather than at construction, so a service or test that never infers runs no timer.
  private startProbe(): void {
    if (this.probe || this.limits.maxQueueDelayMs <= 0) return;
    this.tick();
    this.probe = setInterval(() => this.tick(), PROBE_INTERVAL_MS);
    this.probe.unref();
  }
}
