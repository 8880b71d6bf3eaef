import { threadId } from 'node:worker_threads';
import { writeParquet } from '@keel/datasets';
import { fixtureTable, pipelineSpecFixture } from '@keel/testing';
import { WorkerPool } from '@keel/workers';
import { trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { afterAll, describe, expect, it } from 'vitest';
import { checkDataset, datasetChecksTask } from './validation.task';

const spans = new InMemorySpanExporter();
trace.setGlobalTracerProvider(new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter: spans })] }));

const spec = pipelineSpecFixture('adult-income', { id: 'adult-unit' });
const uri = 's3://keel-datasets/adult-unit/v.parquet';

describe('datasetChecksTask', () => {
  const pool = new WorkerPool({ threads: 1 });
  afterAll(() => pool.close());

  it('checks a version on a worker thread with the outcome the event loop gives, reference inferred or given', async () => {
    // given a first version, and a later one with rows missing
    const first = writeParquet(fixtureTable('adult', spec, { count: 400 }));
    const later = writeParquet(fixtureTable('adult', spec, { count: 30 }));
    // when both are checked here and on a worker
    const noProgress = { progress: () => undefined };
    const firstHere = await checkDataset({ spec, dataset: first, uri }, noProgress);
    const firstThere = await pool.run(datasetChecksTask, { spec, dataset: first, uri });
    const baselines = [
      { against: 'previous' as const, datasetVersionId: 'ds-0000000000000001', summaries: firstHere.summaries },
    ];
    const laterInput = { spec, dataset: later, uri, reference: firstHere.reference, baselines };
    const laterHere = await checkDataset(laterInput, noProgress);
    const laterThere = await pool.run(datasetChecksTask, laterInput);
    // then the worker was another thread and reference, findings and profiles are identical
    const [span] = spans.getFinishedSpans().filter((s) => s.name === 'worker datasetChecksTask');
    expect(span.attributes['keel.worker.thread_id']).not.toBe(threadId);
    expect(firstThere).toEqual(firstHere);
    expect(laterThere).toEqual(laterHere);
    expect(laterThere.findings.map((finding) => finding.check)).toContain('min-rows');
    expect(laterThere.shift.map((shift) => [shift.against, shift.columns.length])).toEqual([['previous', 15]]);
  }, 120_000);

  it('sends bytes that are not Parquet back as non-retryable, with its code', async () => {
    await expect(pool.run(datasetChecksTask, { spec, dataset: Buffer.from('nope'), uri })).rejects.toMatchObject({
      code: 'unreadable-dataset',
      retryable: false,
    });
  }, 120_000);
});
