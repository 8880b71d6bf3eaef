import { setTimeout as sleep } from 'node:timers/promises';
import { backoffDelay, isRetryable, type RetryPolicy } from '@keel/messaging';

/** Backoff of the stream's own retries: the runtime's schedule (500 ms doubling to 30 s, with jitter). */
export const STREAM_RETRY: RetryPolicy = { initialDelayMs: 500, maxDelayMs: 30_000 };

/** A failure kept failing for longer than the retry budget allowed. */
export class RetryBudgetSpentError extends Error {
  readonly retryable = false;
  constructor(
    readonly budgetMs: number,
    cause: unknown,
  ) {
    super(`still failing after ${budgetMs} ms of retries: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    this.name = 'RetryBudgetSpentError';
  }
}

/**
 * Runs `work` until it succeeds, retrying failures that retrying can fix with capped, jittered backoff. A failure
 * retrying cannot fix is thrown at once; so is the abort reason once `signal` aborts (between attempts); with
 * `policy.budgetMs`, a failure that lasts longer ends in RetryBudgetSpentError.
 */
export async function retryUntilDone<T>(
  work: () => Promise<T>,
  signal: AbortSignal,
  onRetry: (error: unknown, attempt: number) => void = () => undefined,
  policy: RetryPolicy = STREAM_RETRY,
): Promise<T> {
  const started = Date.now();
  for (let attempt = 1; ; attempt++) {
    signal.throwIfAborted();
    try {
      return await work();
    } catch (error) {
      if (!isRetryable(error) || signal.aborted) throw error;
      const delayMs = backoffDelay(policy, attempt);
      if (policy.budgetMs !== undefined && Date.now() + delayMs - started > policy.budgetMs) {
        throw new RetryBudgetSpentError(policy.budgetMs, error);
      }
      onRetry(error, attempt);
      await sleep(delayMs, undefined, { signal }).catch(() => undefined);
    }
  }
}
