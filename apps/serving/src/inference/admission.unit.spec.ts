import { status } from '@grpc/grpc-js';
import { type EventLoopUtilization } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import { AdmissionControl, LoadShedError } from './admission';
import { grpcStatusOf } from './inference-errors';

/** A clock the test moves by hand. */
function manualClock(start = 1_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

function refusal(admission: AdmissionControl): LoadShedError | undefined {
  try {
    admission.admit();
    return undefined;
  } catch (error) {
    return error as LoadShedError;
  }
}

describe('AdmissionControl', () => {
  const opened: AdmissionControl[] = [];
  const control = (
    limits: { maxInFlight: number; maxQueueDelayMs: number; maxUtilization?: number },
    now?: () => number,
    utilization?: ConstructorParameters<typeof AdmissionControl>[2],
  ) => {
    const admission = new AdmissionControl(limits, now, utilization);
    opened.push(admission);
    return admission;
  };
  afterEach(() => opened.splice(0).forEach((admission) => admission.close()));

  it('given calls up to the in-flight limit, then the next is refused with RESOURCE_EXHAUSTED until one is released', () => {
    const admission = control({ maxInFlight: 2, maxQueueDelayMs: 0 });
    const first = admission.admit();
    admission.admit();
    const refused = refusal(admission);
    expect(refused).toBeInstanceOf(LoadShedError);
    expect(refused?.reason).toBe('in-flight');
    expect(grpcStatusOf(refused)).toBe(status.RESOURCE_EXHAUSTED);
    expect(refused?.message).toMatch(/SERVING_MAX_IN_FLIGHT_REQUESTS/);
    expect(refused?.retryAfterMs).toBeGreaterThan(0);
    first();
    expect(admission.inFlight).toBe(1);
    expect(() => admission.admit()).not.toThrow();
  });

  it('given a call released twice, then it frees one slot only', () => {
    const admission = control({ maxInFlight: 2, maxQueueDelayMs: 0 });
    const release = admission.admit();
    admission.admit();
    release();
    release();
    expect(admission.inFlight).toBe(1);
  });

  it('given an event loop late on every probe for a second, then new calls are refused until a probe fires on time', () => {
    const clock = manualClock();
    const admission = control({ maxInFlight: 100, maxQueueDelayMs: 250 }, clock.now);
    admission.admit()(); // starts the probe: a tick now
    // Every turn of the loop takes 300 ms: each probe fires 290 ms late (the first late one at 1,300).
    for (let turn = 0; turn < 4; turn++) {
      clock.advance(300);
      admission.tick();
      expect(refusal(admission)).toBeUndefined();
    }
    clock.advance(300);
    admission.tick();
    expect(admission.overloaded()).toBe('queue-delay');
    const refused = refusal(admission);
    expect(refused?.reason).toBe('queue-delay');
    expect(grpcStatusOf(refused)).toBe(status.RESOURCE_EXHAUSTED);
    expect(refused?.message).toMatch(/SERVING_MAX_QUEUE_DELAY_MS/);
    // Refusing shortens the turns: the next probe fires on time and calls are admitted again.
    clock.advance(10);
    admission.tick();
    expect(refusal(admission)).toBeUndefined();
  });

  it('given one long stall (a model parsed, a GC pause), then the calls behind it are still answered', () => {
    const clock = manualClock();
    const admission = control({ maxInFlight: 100, maxQueueDelayMs: 250 }, clock.now);
    admission.admit()();
    clock.advance(3_000);
    admission.tick();
    expect(refusal(admission)).toBeUndefined();
    clock.advance(10);
    admission.tick();
    expect(admission.overloaded()).toBeUndefined();
  });

  it('given a loop late by less than the limit, however long, then calls are admitted', () => {
    const clock = manualClock();
    const admission = control({ maxInFlight: 100, maxQueueDelayMs: 250 }, clock.now);
    admission.admit()();
    for (let turn = 0; turn < 20; turn++) {
      clock.advance(200);
      admission.tick();
    }
    expect(refusal(admission)).toBeUndefined();
  });

  it('given an event loop busy beyond the utilization limit in every window for a second, then calls are refused as saturated', () => {
    const clock = manualClock();
    let busy = 0.99;
    const utilization = (since?: EventLoopUtilization) =>
      ({ idle: 0, active: 0, utilization: since ? busy : 0 }) as EventLoopUtilization;
    const admission = control({ maxInFlight: 100, maxQueueDelayMs: 250, maxUtilization: 0.97 }, clock.now, utilization);
    admission.admit()();
    // Probes fire on time (no queue in the loop itself) while the loop never waits for input.
    const advance = (ms: number) => {
      for (let elapsed = 0; elapsed < ms; elapsed += 10) {
        clock.advance(10);
        admission.tick();
      }
    };
    advance(900);
    expect(refusal(admission)).toBeUndefined();
    advance(300);
    const refused = refusal(admission);
    expect(refused?.reason).toBe('saturated');
    expect(refused?.message).toMatch(/SERVING_MAX_EVENT_LOOP_UTILIZATION/);
    // One window with time to spare: admitted again.
    busy = 0.5;
    advance(100);
    expect(refusal(admission)).toBeUndefined();
  });

  it('given the queue-delay check off (0), then only the in-flight limit refuses', () => {
    const clock = manualClock();
    const admission = control({ maxInFlight: 100, maxQueueDelayMs: 0 }, clock.now);
    admission.admit()();
    for (let turn = 0; turn < 20; turn++) {
      clock.advance(1_000);
      admission.tick();
    }
    expect(refusal(admission)).toBeUndefined();
  });

  it('given the real event loop blocked on every turn, then calls are refused once it has stayed late', async () => {
    const admission = control({ maxInFlight: 100, maxQueueDelayMs: 20 });
    admission.admit()();
    const block = (ms: number) => {
      const until = performance.now() + ms;
      while (performance.now() < until) {
        // the event loop is busy: the probe cannot fire
      }
    };
    // Turns of 60 ms for well over a second: the probe fires late every time.
    for (let turn = 0; turn < 25 && !admission.overloaded(); turn++) {
      block(60);
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    expect(refusal(admission)?.reason).toBe('queue-delay');
  });
});
