import { threadId } from 'node:worker_threads';
import { CategoricalSummary, NumericSummary, Prng } from '@keel/ml-stats';
import { type FeatureReference } from '@keel/model-package';
import { WorkerPool } from '@keel/workers';
import { trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { afterAll, describe, expect, it } from 'vitest';
import { addRows, emptySummaries, evaluateSummaries, evaluateWindow, summariesToJson } from './drift-evaluator';
import { DriftEvaluator } from './drift-evaluator.service';
import { driftWindowTask, evaluateDriftWindow, type WindowColumn } from './drift-evaluator.task';

const spans = new InMemorySpanExporter();
trace.setGlobalTracerProvider(new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter: spans })] }));

/** Ages 17 … 90 drawn uniformly (shifted by `shift`), a sex column two-thirds "Male", and some of both missing. */
function sample(rows: number, seed: number, shift = 0): { age: number | null; sex: string | null }[] {
  const prng = new Prng(seed);
  return Array.from({ length: rows }, (_, i) => ({
    age: i % 50 === 0 ? null : 17 + prng.nextInt(74) + shift,
    sex: i % 70 === 0 ? null : prng.next() < 2 / 3 ? 'Male' : 'Female',
  }));
}

const reference: Record<string, FeatureReference> = {
  age: {
    kind: 'numeric',
    summary: NumericSummary.fromReference(
      sample(5_000, 1).map((row) => row.age ?? 40),
      10,
    ).toJSON(),
  },
  sex: {
    kind: 'categorical',
    summary: new CategoricalSummary().addAll(sample(5_000, 1).map((row) => row.sex ?? 'Male')).toJSON(),
  },
};

function columnsOf(rows: { age: number | null; sex: string | null }[]): Record<string, WindowColumn> {
  const categories = ['Male', 'Female'];
  return {
    age: { kind: 'numeric', values: Float64Array.from(rows, (row) => row.age ?? Number.NaN) },
    sex: {
      kind: 'categorical',
      codes: Int32Array.from(rows, (row) => (row.sex ? categories.indexOf(row.sex) : -1)),
      categories,
    },
  };
}

describe('driftWindowTask', () => {
  const pool = new WorkerPool({ threads: 1 });
  afterAll(() => pool.close());

  it('evaluates a window given column-wise on a worker thread, with the report evaluateWindow gives for its rows', async () => {
    // given a shifted window of 20,000 rows, as rows and as columns moved to the worker
    const rows = sample(20_000, 3, 10);
    const columns = columnsOf(rows);
    const transferList = [(columns.age as { values: Float64Array }).values.buffer as ArrayBuffer];
    // when evaluated on the worker
    const { drift, summariesJson } = await pool.run(
      driftWindowTask,
      { reference, columns, tests: { psiThreshold: 0.2 } },
      { transferList },
    );
    // then it ran on another thread, and report and summaries equal the event loop's
    const [span] = spans.getFinishedSpans().filter((s) => s.name === 'worker driftWindowTask');
    expect(span.attributes['keel.worker.thread_id']).not.toBe(threadId);
    expect(drift).toEqual(evaluateWindow(reference, rows, { psiThreshold: 0.2 }));
    expect(drift.drifted).toBe(true);
    expect(summariesJson).toBe(summariesToJson(addRows(emptySummaries(reference), rows)));
    expect(evaluateDriftWindow({ reference, columns: columnsOf(rows), tests: { psiThreshold: 0.2 } }).drift).toEqual(
      drift,
    );
  }, 120_000);

  it('evaluates stored summaries through DriftEvaluator as evaluateSummaries does', async () => {
    const summaries = addRows(emptySummaries(reference), sample(500, 4));
    const evaluator = new DriftEvaluator(pool);
    expect(await evaluator.evaluate(reference, summariesToJson(summaries), { psiThreshold: 0.2 })).toEqual(
      evaluateSummaries(reference, summaries, { psiThreshold: 0.2 }),
    );
  }, 120_000);
});
