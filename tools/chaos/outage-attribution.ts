import { type InferenceOutcome } from './inference-traffic';

/** When serving was killed, and when its `/health` answered again after the restart (epoch ms). */
export type ServingOutage = readonly [killedAt: number, backAt: number];

/**
 * How long after serving is back a call may still fail on a connection attempt made while it was down: the traffic's
 * channel waits at most 1 s between attempts (`grpc.max_reconnect_backoff_ms` in inference-traffic.ts) and grpc-js
 * adds up to 20 % jitter. Meanwhile it fails calls at once with the last attempt's error.
 */
export const RECONNECT_SLACK_MS = 1_200;

/**
 * Whether a failed call belongs to an outage of serving: it ended while serving was down, or within the channel's
 * reconnect backoff after, failing on a refused connection. A refusal means nothing listened on serving's gRPC port
 * when the channel last tried; serving binds it before its HTTP `/health` answers, so that attempt was made while
 * serving was down, and the call never reached the restarted serving. Any other failure after `/health` is serving's.
 */
export function failedDuringOutage(outcome: InferenceOutcome, outages: readonly ServingOutage[]): boolean {
  if (outcome.ok) return false;
  const refused = /No connection established.*ECONNREFUSED/s.test(outcome.detail ?? '');
  return outages.some(
    ([killedAt, backAt]) =>
      outcome.endedAt >= killedAt &&
      (outcome.endedAt <= backAt || (refused && outcome.endedAt <= backAt + RECONNECT_SLACK_MS)),
  );
}
