/**
 * Capacity as the rate serving sustains, found by open-loop steps: a closed-loop client slows down with the server
 * (coordinated omission), so its best throughput (at 256 callers, with p99 already at 341 ms) overstated what an
 * open-loop population can be answered at, and a soak at 80 % of it fell behind. Here each step sends at a fixed rate
 * whatever the answers, and a rate counts as sustained only if every request was answered, the load generator sent
 * it in full and p99 stayed within a bound; the search grows the rate until a step fails, then bisects.
 */

/** What one open-loop step at `rate` requests/s measured. */
export interface StepMeasurement {
  rate: number;
  /** Requests sent per second over the step (ghz may fall short of the rate on a busy machine). */
  sentPerSecond: number;
  errors: number;
  p99Ms: number;
}

export interface CapacityStep extends StepMeasurement {
  sustained: boolean;
  /** Why the step did not hold, when it did not. */
  failed?: string;
}

export interface SearchPolicy {
  /** The first step's rate (from a short closed-loop warm-up at moderate concurrency). */
  startRate: number;
  /** p99 latency above which a step does not hold. */
  p99BoundMs: number;
  /** Most steps; the search stops earlier once the bracket is within `precision`. */
  maxSteps: number;
  /** Factor by which the rate grows after a step that held (and shrinks, squared, after a first step that failed). */
  growth: number;
  /** The bracket [highest held, lowest failed] is narrow enough when (high - low) / low is at most this. */
  precision: number;
}

// ghz paces its sends; a step that sent less than this share of its rate did not offer the load.
export const SENT_FRACTION = 0.97;

export function judgeStep(step: StepMeasurement, p99BoundMs: number): CapacityStep {
  const reasons: string[] = [];
  if (step.errors > 0) reasons.push(`${step.errors} errors`);
  if (!(step.p99Ms <= p99BoundMs)) reasons.push(`p99 ${Math.round(step.p99Ms)} ms over ${p99BoundMs} ms`);
  if (step.sentPerSecond < step.rate * SENT_FRACTION) reasons.push(`sent ${Math.round(step.sentPerSecond)}/s`);
  return { ...step, sustained: reasons.length === 0, ...(reasons.length ? { failed: reasons.join(', ') } : {}) };
}

/**
 * Runs steps until the highest sustained rate is bracketed within the policy's precision (or the steps run out);
 * capacity is the highest rate that held (0 when none did).
 */
export async function searchCapacity(
  runStep: (rate: number) => Promise<StepMeasurement>,
  policy: SearchPolicy,
  shouldStop: () => boolean = () => false,
): Promise<{ steps: CapacityStep[]; requestsPerSecond: number }> {
  const steps: CapacityStep[] = [];
  let held = 0;
  let failedAt = Infinity;
  let rate = policy.startRate;
  while (steps.length < policy.maxSteps && !shouldStop()) {
    const step = judgeStep(await runStep(rate), policy.p99BoundMs);
    steps.push(step);
    if (step.sustained) held = Math.max(held, rate);
    else failedAt = Math.min(failedAt, rate);
    if (failedAt === Infinity) rate *= policy.growth;
    else if (held === 0) rate /= policy.growth * policy.growth;
    else if ((failedAt - held) / held <= policy.precision) break;
    else rate = (held + failedAt) / 2;
  }
  return { steps, requestsPerSecond: held };
}
