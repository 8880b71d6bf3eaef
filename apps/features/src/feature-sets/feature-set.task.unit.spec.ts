import { threadId } from 'node:worker_threads';
import { writeParquet } from '@keel/datasets';
import { fixtureTable, pipelineSpecFixture } from '@keel/testing';
import { WorkerPool } from '@keel/workers';
import { trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeFeatureSet, featureSetTask } from './feature-set.task';

const spans = new InMemorySpanExporter();
trace.setGlobalTracerProvider(new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter: spans })] }));

const spec = pipelineSpecFixture('adult-income', { id: 'adult-unit' });

describe('featureSetTask', () => {
  const pool = new WorkerPool({ threads: 1 });
  afterAll(() => pool.close());

  it('builds the feature set on a worker thread, byte for byte as on the event loop', async () => {
    // given a dataset version
    const dataset = writeParquet(fixtureTable('adult', spec, { count: 2_000 }));
    // when it is built here and on a worker
    const here = await encodeFeatureSet({ spec, dataset }, { progress: () => undefined });
    const there = await pool.run(featureSetTask, { spec, dataset: Buffer.from(dataset) });
    // then the worker was another thread and both artifacts are identical
    const [span] = spans.getFinishedSpans().filter((s) => s.name === 'worker featureSetTask');
    expect(span.attributes['keel.worker.thread_id']).not.toBe(threadId);
    expect(Buffer.from(there.featureSet).equals(Buffer.from(here.featureSet))).toBe(true);
    expect(Buffer.from(there.transform).equals(Buffer.from(here.transform))).toBe(true);
    expect(there.rowCounts).toEqual(here.rowCounts);
  }, 120_000);

  it('sends a dataset that cannot become a feature set back as non-retryable, with its code', async () => {
    const dataset = writeParquet(fixtureTable('adult', spec, { count: 200, drop: ['age'] }));
    await expect(pool.run(featureSetTask, { spec, dataset })).rejects.toMatchObject({
      code: 'bad-dataset',
      retryable: false,
      message: 'dataset lacks column(s) age',
    });
    await expect(pool.run(featureSetTask, { spec, dataset: Buffer.from('not parquet') })).rejects.toMatchObject({
      code: 'unreadable-dataset',
      retryable: false,
    });
  }, 120_000);
});
