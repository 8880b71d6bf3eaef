import { describe, expect, it } from 'vitest';
import { type ModelOutputs } from '../models/loaded-model';
import { AdaptiveBatcher } from './adaptive-batcher';
import { concatOutputs, predictInChunks, sliceColumns } from './chunked-prediction';
import { type InputColumns } from './tensor-codec';
import { type LoadedModel } from '../models/loaded-model';

/**
 * A model that doubles `x` and labels by `c`, recording each call's rows and what else ran on the event loop before
 * it (`events`); `c: 'bad'` makes it throw, as an unknown category does.
 */
function fakeModel(events: string[] = []) {
  const calls: number[] = [];
  const model = {
    predict(inputs: InputColumns): ModelOutputs {
      calls.push(inputs.rows);
      events.push(`chunk ${inputs.rows}`);
      const c = inputs.columns.c as (string | null)[];
      if (c.includes('bad')) throw new Error('unknown category "bad"');
      return { doubled: (inputs.columns.x as Float64Array).map((v) => 2 * v), label: c.map((v) => `L${v}`) };
    },
  };
  return { model, calls };
}

const table = (rows: number, c: (i: number) => string | null = (i) => String(i % 7)): InputColumns => ({
  rows,
  columns: { x: Float64Array.from({ length: rows }, (_, i) => i), c: Array.from({ length: rows }, (_, i) => c(i)) },
});

const plain = (outputs: ModelOutputs) =>
  Object.fromEntries(
    Object.entries(outputs).map(([name, values]) => [name, Array.from(values as ArrayLike<number | string>)]),
  );

describe('predictInChunks', () => {
  it('given more rows than a chunk, then chunks of at most that many rows, outputs identical to one call', async () => {
    const { model, calls } = fakeModel();
    const inputs = table(2_500);
    const outputs = await predictInChunks(model, inputs, 1_000);
    expect(calls).toEqual([1_000, 1_000, 500]);
    expect(outputs.doubled).toBeInstanceOf(Float64Array);
    expect(plain(outputs)).toEqual(plain(fakeModel().model.predict(inputs)));
  });

  it('given more rows than a chunk, then each chunk runs in a turn of the event loop of its own', async () => {
    const events: string[] = [];
    const { model } = fakeModel(events);
    const scoring = predictInChunks(model, table(30), 10);
    // Work queued meanwhile (another request, a probe) runs between the chunks, not after all of them.
    const others = (async () => {
      for (let i = 0; i < 3; i++) {
        events.push(`other ${i}`);
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    await Promise.all([scoring, others]);
    expect(events).toEqual(['other 0', 'chunk 10', 'other 1', 'chunk 10', 'other 2', 'chunk 10']);
  });

  it('given at most a chunk of rows, then one call (the single-row and batched paths are unchanged)', async () => {
    const { model, calls } = fakeModel();
    await predictInChunks(model, table(1_000), 1_000);
    expect(calls).toEqual([1_000]);
  });

  it('given a chunk the model refuses, then the whole request fails with its error', async () => {
    const { model } = fakeModel();
    await expect(
      predictInChunks(
        model,
        table(25, (i) => (i === 21 ? 'bad' : 'ok')),
        10,
      ),
    ).rejects.toThrow('unknown category "bad"');
  });

  it('slices numeric columns as views and text columns as copies, and joins outputs in order', () => {
    const inputs = table(5);
    const slice = sliceColumns(inputs, 1, 4);
    expect(slice.rows).toBe(3);
    expect((slice.columns.x as Float64Array).buffer).toBe((inputs.columns.x as Float64Array).buffer);
    expect(Array.from(slice.columns.x as Float64Array)).toEqual([1, 2, 3]);
    expect(slice.columns.c).toEqual(['1', '2', '3']);
    const joined = concatOutputs(
      [
        { p: Float64Array.of(1, 2), label: ['a', 'b'] },
        { p: Float64Array.of(3), label: ['c'] },
      ],
      3,
    );
    expect(plain(joined)).toEqual({ p: [1, 2, 3], label: ['a', 'b', 'c'] });
  });
});

describe('AdaptiveBatcher with chunks', () => {
  const batcher = (maxRows: number, chunkRows: number) =>
    new AdaptiveBatcher(
      () => ({ maxRows, maxDelayMs: 0 }),
      () => 0,
      () => ({ idle: 0, active: 0, utilization: 0 }),
      chunkRows,
    );

  it('given a request over the chunk size, then it is scored in chunks and answered in full', async () => {
    const { model, calls } = fakeModel();
    const outputs = batcher(256, 100).predict(model as unknown as LoadedModel, table(250));
    expect(outputs).toBeInstanceOf(Promise);
    expect(plain(await outputs)).toEqual(plain(fakeModel().model.predict(table(250))));
    expect(calls).toEqual([100, 100, 50]);
  });

  it('given a single-row request, then it is still scored at once, synchronously', () => {
    const { model, calls } = fakeModel();
    const outputs = batcher(256, 100).predict(model as unknown as LoadedModel, table(1));
    expect(outputs).not.toBeInstanceOf(Promise);
    expect(calls).toEqual([1]);
  });
});
