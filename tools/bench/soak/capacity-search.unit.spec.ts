import { describe, expect, it } from 'vitest';
import { judgeStep, searchCapacity, type StepMeasurement } from './capacity-search';

/** A server that answers everything up to `limit` requests/s within 50 ms, and falls behind above it. */
const serverWithLimit =
  (limit: number) =>
  async (rate: number): Promise<StepMeasurement> => ({
    rate,
    sentPerSecond: rate,
    errors: 0,
    p99Ms: rate <= limit ? 50 : 5_000,
  });

const policy = { startRate: 1_000, p99BoundMs: 250, maxSteps: 12, growth: 1.25, precision: 0.05 };

describe('capacity search', () => {
  it('given a server that holds up to 1,700 requests/s, then capacity is bracketed within 5 % below it', async () => {
    const { requestsPerSecond, steps } = await searchCapacity(serverWithLimit(1_700), policy);
    expect(requestsPerSecond).toBeLessThanOrEqual(1_700);
    expect(requestsPerSecond).toBeGreaterThan(1_700 * 0.95);
    expect(steps.slice(0, 3).map((step) => step.rate)).toEqual([1_000, 1_250, 1_562.5]);
  });

  it('given a first step that fails, then the search goes down until a rate holds', async () => {
    const { requestsPerSecond } = await searchCapacity(serverWithLimit(400), policy);
    expect(requestsPerSecond).toBeGreaterThan(400 * 0.95);
    expect(requestsPerSecond).toBeLessThanOrEqual(400);
  });

  it('given no step that holds within the step budget, then capacity is 0', async () => {
    const { requestsPerSecond, steps } = await searchCapacity(serverWithLimit(1), { ...policy, maxSteps: 3 });
    expect(requestsPerSecond).toBe(0);
    expect(steps).toHaveLength(3);
  });

  it('a step fails on any error, on p99 over the bound, or when the load generator sent short, and says why', () => {
    const ok = { rate: 1_000, sentPerSecond: 1_000, errors: 0, p99Ms: 40 };
    expect(judgeStep(ok, 250)).toMatchObject({ sustained: true });
    expect(judgeStep({ ...ok, errors: 3 }, 250)).toMatchObject({ sustained: false, failed: '3 errors' });
    expect(judgeStep({ ...ok, p99Ms: 300 }, 250).failed).toMatch(/p99 300 ms/);
    expect(judgeStep({ ...ok, sentPerSecond: 900 }, 250).failed).toMatch(/sent 900/);
    expect(judgeStep({ ...ok, p99Ms: NaN }, 250).sustained).toBe(false);
  });
});
