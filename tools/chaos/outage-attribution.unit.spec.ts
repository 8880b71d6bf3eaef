import { describe, expect, it } from 'vitest';
import { type InferenceOutcome } from './inference-traffic';
import { failedDuringOutage, RECONNECT_SLACK_MS, type ServingOutage } from './outage-attribution';

const outage: ServingOutage = [10_000, 14_000];
const failure = (endedAt: number, detail?: string): InferenceOutcome => ({
  startedAt: endedAt - 5,
  endedAt,
  latencyMs: 5,
  ok: false,
  code: 'UNAVAILABLE',
  rows: 1,
  ...(detail ? { detail } : {}),
});
const refused = 'No connection established. Last error: connect ECONNREFUSED 127.0.0.1:8001';

describe('which failed inference calls belong to an outage of serving', () => {
  it('counts every failure between the kill and serving answering /health again', () => {
    expect(failedDuringOutage(failure(10_000), [outage])).toBe(true);
    expect(failedDuringOutage(failure(14_000, 'Connection dropped'), [outage])).toBe(true);
    expect(failedDuringOutage(failure(9_999), [outage])).toBe(false);
  });

  it("counts a refused connection within the channel's reconnect backoff after, as the attempt was made while down", () => {
    expect(failedDuringOutage(failure(14_442, refused), [outage])).toBe(true);
    expect(failedDuringOutage(failure(14_000 + RECONNECT_SLACK_MS, refused), [outage])).toBe(true);
    expect(failedDuringOutage(failure(14_001 + RECONNECT_SLACK_MS, refused), [outage])).toBe(false);
  });

  it('holds serving to any other failure once it is back, and never counts a success', () => {
    expect(failedDuringOutage(failure(14_100, 'model adult is not ready'), [outage])).toBe(false);
    expect(failedDuringOutage(failure(14_100), [outage])).toBe(false);
    expect(failedDuringOutage({ ...failure(12_000), ok: true }, [outage])).toBe(false);
  });
});
