import { describe, expect, it } from 'vitest';
import { classifyFailure, NonRetryableError } from './errors';
import { backoffDelay, consumerRestartBackoff, defaultRetryPolicy, restartDelayWithin, withinBudget } from './retry';

const policy = { initialDelayMs: 500, maxDelayMs: 30_000, budgetMs: 600_000 };

describe('backoffDelay', () => {
  it('given no jitter (random 0), then waits are half the doubling step, capped at half the maximum', () => {
    const waits = [1, 2, 3, 4, 5, 6, 7, 8, 9].map((failed) => backoffDelay(policy, failed, () => 0));
    expect(waits).toEqual([250, 500, 1_000, 2_000, 4_000, 8_000, 15_000, 15_000, 15_000]);
  });

  it('given full jitter (random just under 1), then waits reach the step itself, capped at the maximum', () => {
    const waits = [1, 2, 3, 4, 5, 6, 7, 8].map((failed) => backoffDelay(policy, failed, () => 0.999_999));
    expect(waits).toEqual([500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000]);
  });

  it('given a mid-range draw, then the wait lies halfway into the upper half of the step', () => {
    expect(backoffDelay(policy, 3, () => 0.5)).toBe(1_500);
  });

  it('given a huge attempt count, then the wait stays at the cap', () => {
    expect(backoffDelay(policy, 10_000, () => 0.999_999)).toBe(30_000);
  });

  it('the default policy rides out a 60 s outage several times over before dead-lettering', () => {
    expect(defaultRetryPolicy.budgetMs).toBeGreaterThanOrEqual(5 * 60_000);
    let failed = 0;
    let waited = 0;
    while (withinBudget(defaultRetryPolicy, failed + 1, 0, waited)) {
      failed += 1;
      waited += backoffDelay(defaultRetryPolicy, failed, () => 0.999_999);
    }
    expect(waited).toBeGreaterThanOrEqual(defaultRetryPolicy.budgetMs);
    expect(failed).toBeGreaterThan(20);
  });
});

describe('withinBudget', () => {
  it('allows retries until the time budget is spent', () => {
    expect(withinBudget(policy, 1, 1_000, 1_000)).toBe(true);
    expect(withinBudget(policy, 50, 1_000, 600_999)).toBe(true);
    expect(withinBudget(policy, 50, 1_000, 601_000)).toBe(false);
  });

  it('stops at maxAttempts when one is set', () => {
    expect(withinBudget({ ...policy, maxAttempts: 3 }, 2, 0, 0)).toBe(true);
    expect(withinBudget({ ...policy, maxAttempts: 3 }, 3, 0, 0)).toBe(false);
  });
});

function named(name: string, fields: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(`${name} happened`), { name }, fields);
}

describe('classifyFailure', () => {
  it.each([
    ['a MongoDB network error', named('MongoNetworkError')],
    ['a MongoDB server selection timeout', named('MongoServerSelectionError')],
    [
      'a MongoDB error labelled retryable',
      named('MongoServerError', { code: 112, errorLabels: ['RetryableWriteError'] }),
    ],
    ['a MongoDB node shutting down', named('MongoServerError', { code: 91 })],
    ['storage unavailable', named('StorageError', { code: 'storage-unavailable', retryable: true })],
    ['a kafkajs retriable error', named('KafkaJSConnectionError', { retriable: true })],
    ['kafkajs retries exhausted', named('KafkaJSNumberOfRetriesExceeded', { retriable: false })],
    ['registry UNAVAILABLE', named('Error', { code: 14, details: 'connection refused', metadata: {} })],
    ['registry DEADLINE_EXCEEDED', named('Error', { code: 4, details: 'deadline', metadata: {} })],
    ['a refused connection', named('Error', { code: 'ECONNREFUSED' })],
    [
      'fetch failing on a reset socket',
      new TypeError('fetch failed', { cause: named('Error', { code: 'ECONNRESET' }) }),
    ],
    ['an unknown error', new Error('something odd')],
  ])('given %s, then it is retryable', (_what, error) => {
    expect(classifyFailure(error).retryable).toBe(true);
  });

  it.each([
    ['a NonRetryableError', new NonRetryableError('unknown pipeline', 'unknown-pipeline')],
    ['an integrity failure', named('IntegrityError', { code: 'object-integrity', retryable: false })],
    ['a kafkajs non-retriable error', named('KafkaJSProtocolError', { retriable: false, type: 'MESSAGE_TOO_LARGE' })],
    ['registry INVALID_ARGUMENT', named('Error', { code: 3, details: 'bad name', metadata: {} })],
    ['registry NOT_FOUND', named('Error', { code: 5, details: 'no model', metadata: {} })],
    ['a wrapped non-retryable cause', new Error('load failed', { cause: new NonRetryableError('package-invalid') })],
  ])('given %s, then it is not retryable', (_what, error) => {
    expect(classifyFailure(error).retryable).toBe(false);
  });

  it('says why, for the logs', () => {
    expect(classifyFailure(named('MongoNetworkError')).reason).toBe('mongodb MongoNetworkError');
    expect(classifyFailure(named('Error', { code: 14, details: 'x', metadata: {} })).reason).toBe('grpc UNAVAILABLE');
  });
});

describe('restartDelayWithin', () => {
  const noJitter = () => 0;

  it('given a consumer just down, then the first restart waits half the first step of the restart backoff', () => {
    expect(restartDelayWithin(consumerRestartBackoff, 1, 0, 300_000, { now: 0, random: noJitter })).toBe(500);
  });

  it('given attempts that would still start within the bound, then each gets its backoff delay', () => {
    // 1 s doubling to 30 s, without jitter: 0.5, 1, 2, 4, 8, 15, 15 s.
    const delays = [1, 2, 3, 4, 5, 6, 7].map((attempt) =>
      restartDelayWithin(consumerRestartBackoff, attempt, 0, 300_000, { now: 100_000, random: noJitter }),
    );
    expect(delays).toEqual([500, 1_000, 2_000, 4_000, 8_000, 15_000, 15_000]);
  });

  it('given an attempt that would start past the bound, then there is none: the consumer is declared failed', () => {
    expect(restartDelayWithin(consumerRestartBackoff, 7, 0, 300_000, { now: 290_000, random: noJitter })).toBe(
      undefined,
    );
    expect(restartDelayWithin(consumerRestartBackoff, 7, 0, 300_000, { now: 285_000, random: noJitter })).toBe(15_000);
  });
});
