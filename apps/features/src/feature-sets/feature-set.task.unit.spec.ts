import { createHash } from 'node:crypto';
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

/** One dataset version's bytes as the task's input. */
function input(dataset: Buffer) {
  const sha256 = createHash('sha256').update(dataset).digest('hex');
  const increment = {
    datasetVersionId: `ds-${sha256.slice(0, 32)}`,
    sha256,
    uri: 's3://keel-datasets/x',
    sequence: 1,
    rowCount: 0,
  };
  return { spec, increments: [increment], datasets: [dataset] };
}

describe('featureSetTask', () => {
  const pool = new WorkerPool({ threads: 1 });
  afterAll(() => pool.close());

  it('builds the feature set on a worker thread, byte for byte as on the event loop', async () => {
    // given a dataset version
    const dataset = writeParquet(fixtureTable('adult', spec, { count: 2_000 }));
    // when it is built here and on a worker
    const here = await encodeFeatureSet(input(dataset), { progress: () => undefined });
    const there = await pool.run(featureSetTask, input(Buffer.from(dataset)));
    // then the worker was another thread and both artifacts are identical
    const [span] = spans.getFinishedSpans().filter((s) => s.name === 'worker featureSetTask');
    expect(span.attributes['keel.worker.thread_id']).not.toBe(threadId);
    expect(Buffer.from(there.featureSet).equals(Buffer.from(here.featureSet))).toBe(true);
    expect(Buffer.from(there.transform).equals(Buffer.from(here.transform))).toBe(true);
    expect(there.rowCounts).toEqual(here.rowCounts);
    expect(Buffer.from(there.manifest).equals(Buffer.from(here.manifest))).toBe(true);
  }, 120_000);

  it('sends a dataset that cannot become a feature set back as non-retryable, with its code', async () => {
    const dataset = writeParquet(fixtureTable('adult', spec, { count: 200, drop: ['age'] }));
    await expect(pool.run(featureSetTask, input(dataset))).rejects.toMatchObject({
      code: 'bad-dataset',
      retryable: false,
      message: expect.stringMatching(/^dataset version ds-[0-9a-f]+ lacks column\(s\) age$/),
    });
    await expect(pool.run(featureSetTask, input(Buffer.from('not parquet')))).rejects.toMatchObject({
      code: 'unreadable-dataset',
      retryable: false,
    });
  }, 120_000);
});
