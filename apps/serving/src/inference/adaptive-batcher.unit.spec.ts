import { describe, expect, it } from 'vitest';
import { type LoadedModel, type ModelOutputs } from '../models/loaded-model';
import { type EventLoopUtilization } from 'node:perf_hooks';
import {
  AdaptiveBatcher,
  type BatchingPolicy,
  BUSY_UTILIZATION,
  BUSY_WINDOW_MS,
  concatColumns,
} from './adaptive-batcher';
import { type InputColumns } from './tensor-codec';

/** A model that doubles `x` and echoes `c`, recording the row count of every call; `c: 'bad'` makes it throw. */
function fakeModel() {
  const calls: number[] = [];
  const model = {
    predict(inputs: InputColumns): ModelOutputs {
      calls.push(inputs.rows);
      const c = inputs.columns.c as (string | null)[];
      if (c.includes('bad')) throw new Error('unknown category "bad"');
      return { doubled: (inputs.columns.x as Float64Array).map((v) => 2 * v), echoed: c.map(String) };
    },
  } as unknown as LoadedModel;
  return { model, calls };
}

const inputs = (x: number[], c: (string | null)[] = x.map((v) => `c${v}`)): InputColumns => ({
  rows: x.length,
  columns: { x: Float64Array.from(x), c },
});

/** Event-loop utilization as perf_hooks reports it, at a fixed share of the time busy. */
const loopAt =
  (share: number) =>
  (a?: EventLoopUtilization, b?: EventLoopUtilization): EventLoopUtilization =>
    a && b ? { idle: 1 - share, active: share, utilization: share } : { idle: 0, active: 0, utilization: 0 };

/** A batcher whose event loop stays busy, so that requests arriving together coalesce. */
const batcher = (policy: BatchingPolicy, now = () => BUSY_WINDOW_MS, share = 1) =>
  new AdaptiveBatcher(() => policy, now, loopAt(share));

const plain = (outputs: ModelOutputs) =>
  Object.fromEntries(
    Object.entries(outputs).map(([name, values]) => [name, Array.from(values as ArrayLike<number | string>)]),
  );

describe('AdaptiveBatcher', () => {
  it('given batching off, when predicting, then each request is scored at once, synchronously', () => {
    const { model, calls } = fakeModel();
    const outputs = batcher({ maxRows: 1, maxDelayMs: 0 }).predict(model, inputs([1, 2]));
    expect(outputs).not.toBeInstanceOf(Promise);
    expect(plain(outputs as ModelOutputs)).toEqual({ doubled: [2, 4], echoed: ['c1', 'c2'] });
    expect(calls).toEqual([2]);
  });

  it('given no wait configured, when the event loop has time to spare, then each request is scored at once', () => {
    const { model, calls } = fakeModel();
    let clock = 0;
    let share = 0.3;
    const batching = new AdaptiveBatcher(
      () => ({ maxRows: 100, maxDelayMs: 0 }),
      () => clock,
      (a, b) => loopAt(share)(a, b),
    );
    clock += BUSY_WINDOW_MS;
    expect(batching.predict(model, inputs([1]))).not.toBeInstanceOf(Promise);
    expect(batching.predict(model, inputs([2]))).not.toBeInstanceOf(Promise);
    expect(calls).toEqual([1, 1]);
    // Once a window shows the loop busy, requests wait for the turn's batch.
    share = BUSY_UTILIZATION + 0.1;
    clock += BUSY_WINDOW_MS;
    expect(batching.predict(model, inputs([3]))).toBeInstanceOf(Promise);
  });

  it('given requests that arrive together, when batched, then one model call scores them and each gets its rows', async () => {
    const { model, calls } = fakeModel();
    const batching = batcher({ maxRows: 100, maxDelayMs: 0 });
    const answers = await Promise.all([
      batching.predict(model, inputs([1])),
      batching.predict(model, inputs([2, 3])),
      batching.predict(model, inputs([4])),
    ]);
    expect(calls).toEqual([4]);
    expect(answers.map(plain)).toEqual([
      { doubled: [2], echoed: ['c1'] },
      { doubled: [4, 6], echoed: ['c2', 'c3'] },
      { doubled: [8], echoed: ['c4'] },
    ]);
  });

  it('given a batch that reaches its row limit, then it is scored at once and the next request opens another', async () => {
    const { model, calls } = fakeModel();
    const batching = batcher({ maxRows: 3, maxDelayMs: 0 });
    const first = batching.predict(model, inputs([1, 2]));
    const second = batching.predict(model, inputs([3]));
    expect(calls).toEqual([3]);
    const third = batching.predict(model, inputs([4, 5]));
    const alone = batching.predict(model, inputs([6, 7, 8]));
    expect(calls).toEqual([3, 3]);
    await Promise.all([first, second, third, alone]);
    expect(calls).toEqual([3, 3, 2]);
  });

  it('given one faulty request in a batch, then only it fails and the others are answered', async () => {
    const { model } = fakeModel();
    const batching = batcher({ maxRows: 100, maxDelayMs: 0 });
    const results = await Promise.allSettled([
      batching.predict(model, inputs([1])),
      batching.predict(model, inputs([2], ['bad'])),
      batching.predict(model, inputs([3])),
    ]);
    expect(results.map((result) => result.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(plain((results[2] as PromiseFulfilledResult<ModelOutputs>).value)).toEqual({ doubled: [6], echoed: ['c3'] });
  });

  it('given a delay, then requests arriving within it join the first one', async () => {
    const { model, calls } = fakeModel();
    const batching = batcher({ maxRows: 100, maxDelayMs: 20 });
    const first = batching.predict(model, inputs([1]));
    await new Promise((resolve) => setImmediate(resolve));
    const second = batching.predict(model, inputs([2]));
    await Promise.all([first, second]);
    expect(calls).toEqual([2]);
  });

  it('given parts with numeric and text columns, when concatenated, then rows keep their order', () => {
    const joined = concatColumns([inputs([1, 2]), inputs([3], [null])]);
    expect(joined.rows).toBe(3);
    expect(Array.from(joined.columns.x as Float64Array)).toEqual([1, 2, 3]);
    expect(joined.columns.c).toEqual(['c1', 'c2', null]);
  });
});
