import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { abandonedCall } from './call-deadline';

const NOW = Date.parse('2026-12-02T04:00:00.000Z');
const call = (deadline: Date | number, cancelled = false) => ({ cancelled, getDeadline: () => deadline });

describe('abandonedCall', () => {
  it('given no deadline, then the call is answered', () => {
    expect(abandonedCall(call(Infinity), NOW)).toBeUndefined();
  });

  it('given a deadline still ahead, as a date or epoch ms, then the call is answered', () => {
    expect(abandonedCall(call(new Date(NOW + 1)), NOW)).toBeUndefined();
    expect(abandonedCall(call(NOW + 1_000), NOW)).toBeUndefined();
  });

  it('given a deadline that passed while the call waited, then DEADLINE_EXCEEDED', () => {
    expect(abandonedCall(call(new Date(NOW)), NOW)?.code).toBe(status.DEADLINE_EXCEEDED);
    expect(abandonedCall(call(NOW - 5), NOW)?.code).toBe(status.DEADLINE_EXCEEDED);
  });

  it('given a call its client cancelled, then CANCELLED whatever the deadline', () => {
    expect(abandonedCall(call(Infinity, true), NOW)?.code).toBe(status.CANCELLED);
  });
});
