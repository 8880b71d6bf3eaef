import { threadId } from 'node:worker_threads';
import { NonRetryableError } from '@keel/messaging';
import { StorageError } from '@keel/storage';
import { defineWorkerTask, transferResult } from '../worker-task';

/** Sums a Float64Array moved to the worker, reports progress, and moves back a doubled copy. */
export const sumTask = defineWorkerTask(__filename, 'sumTask', (input: { values: Float64Array }, { progress }) => {
  let sum = 0;
  const doubled = new Float64Array(input.values.length);
  for (let i = 0; i < input.values.length; i++) {
    sum += input.values[i];
    doubled[i] = input.values[i] * 2;
    if ((i + 1) % 2 === 0) progress({ stage: 'sum', done: i + 1, total: input.values.length });
  }
  return transferResult({ sum, doubled, threadId }, [doubled.buffer]);
});

/** Fails the way the caller asks, to show what crosses the thread boundary. */
export const failTask = defineWorkerTask(__filename, 'failTask', (kind: 'non-retryable' | 'storage' | 'plain') => {
  if (kind === 'non-retryable') throw new NonRetryableError('the input is bad', 'bad-input');
  if (kind === 'storage') throw new StorageError('storage-unavailable', 's3://b/k', 'storage is down');
  throw new RangeError('out of range');
});

/** Spins until it is cancelled: the pool must terminate its thread. */
export const spinTask = defineWorkerTask(__filename, 'spinTask', (_: null, { progress }) => {
  progress({ stage: 'spinning' });
  for (;;) {
    // busy, never yields
  }
});
