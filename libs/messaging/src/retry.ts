/**
 * How long and how often a failing record is tried again. Waits grow exponentially from `initialDelayMs` to
 * `maxDelayMs`, each drawn with jitter so that consumers failing together do not retry together; a record whose
 * retryable failures last longer than `budgetMs` (or reach `maxAttempts`, when set) is dead-lettered.
 */
export interface RetryPolicy {
  initialDelayMs: number;
  maxDelayMs: number;
  /** Time from the first failure after which a still-failing record is dead-lettered; default 10 minutes. */
  budgetMs?: number;
  /** Total attempts including the first; unbounded by default (the time budget decides). */
  maxAttempts?: number;
}

/**
 * Long enough to ride out a minute-long outage of any server several times over: a record waits at most 30 s between
 * attempts and is dead-lettered only after 10 minutes of retryable failures.
 */
export const defaultRetryPolicy: Required<Pick<RetryPolicy, 'initialDelayMs' | 'maxDelayMs' | 'budgetMs'>> = {
  initialDelayMs: 500,
  maxDelayMs: 30_000,
  budgetMs: 600_000,
};

/**
 * The wait before attempt `failedAttempts + 1`: the capped exponential step, of which the upper half is drawn at
 * random ("equal jitter"), so a wait is never shorter than half its step. `random` returns a number in [0, 1).
 */
export function backoffDelay(policy: RetryPolicy, failedAttempts: number, random: () => number = Math.random): number {
  const exponent = Math.max(0, failedAttempts - 1);
  const step = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** Math.min(exponent, 52));
  return Math.round(step / 2 + random() * (step / 2));
}

/** Whether a record that has failed `failedAttempts` times since `firstFailureAt` may be tried again. */
export function withinBudget(
  policy: RetryPolicy,
  failedAttempts: number,
  firstFailureAt: number,
  now: number,
): boolean {
  if (policy.maxAttempts !== undefined && failedAttempts >= policy.maxAttempts) return false;
  return now - firstFailureAt < (policy.budgetMs ?? defaultRetryPolicy.budgetMs);
}

/** How every consumer is restarted after a crash: 1 s doubling to 30 s, with jitter. */
export const consumerRestartBackoff: RetryPolicy = { initialDelayMs: 1_000, maxDelayMs: 30_000 };

/**
 * The wait before restart attempt `attempt` of a consumer down since `downSince`, or undefined when that attempt would
 * start more than `timeoutMs` after it went down: the consumer is then declared failed, and the runtime exits so its
 * supervisor starts a fresh process (restarting in place for ever would hide a process that cannot recover).
 */
export function restartDelayWithin(
  backoff: RetryPolicy,
  attempt: number,
  downSince: number,
  timeoutMs: number,
  { now = Date.now(), random = Math.random }: { now?: number; random?: () => number } = {},
): number | undefined {
  const delay = backoffDelay(backoff, attempt, random);
  return now + delay - downSince > timeoutMs ? undefined : delay;
}
