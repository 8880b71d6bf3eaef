import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { OnlineViewOverLimitError, OnlineViewUnavailableError } from '../online/online-views';
import { grpcStatusOf } from './inference-errors';

describe('grpcStatusOf', () => {
  it('answers a view not loaded UNAVAILABLE, and one over a memory limit RESOURCE_EXHAUSTED', () => {
    expect(grpcStatusOf(new OnlineViewUnavailableError('not built yet'))).toBe(status.UNAVAILABLE);
    const over = new OnlineViewOverLimitError('over SERVING_MAX_ONLINE_ENTITIES', 'SERVING_MAX_ONLINE_ENTITIES');
    expect(grpcStatusOf(over)).toBe(status.RESOURCE_EXHAUSTED);
    expect(grpcStatusOf(new Error('boom'))).toBe(status.INTERNAL);
  });
});
