import { type Deadline, status } from '@grpc/grpc-js';

/** A failure the gRPC adapter answers with instead of doing the work. */
export interface Abandoned {
  code: status.CANCELLED | status.DEADLINE_EXCEEDED;
  details: string;
}

/**
 * Whether a call is no longer worth answering when its turn comes: its client cancelled it, or its deadline passed
 * while it waited in the event loop. Under overload, skipping such calls spends the CPU on callers still waiting.
 */
export function abandonedCall(
  call: { readonly cancelled: boolean; getDeadline(): Deadline },
  now = Date.now(),
): Abandoned | undefined {
  if (call.cancelled) return { code: status.CANCELLED, details: 'the client cancelled the call' };
  const deadline = call.getDeadline();
  const deadlineMs = deadline instanceof Date ? deadline.getTime() : deadline;
  if (Number.isFinite(deadlineMs) && deadlineMs <= now) {
    return { code: status.DEADLINE_EXCEEDED, details: "the call's deadline passed before serving could answer it" };
  }
  return undefined;
}
