import { threadId } from 'node:worker_threads';
import { derivedId, type EventData, type FeaturesMaterializedV1, PipelineSpecV1 } from '@keel/contracts';
import { readParquet, SPLIT_COLUMN, takeRows, transformInputs, writeParquet } from '@keel/datasets';
import { fitTransform, stableStringify } from '@keel/ml-models';
import { evaluatePackage, heldOutView, parsePackage } from '@keel/model-package';
import { WorkerPool } from '@keel/workers';
import { trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { afterAll, describe, expect, it } from 'vitest';
import { trainAndPackage, type TrainingRunInput, trainingRunTask } from './training-run.task';

const spans = new InMemorySpanExporter();
trace.setGlobalTracerProvider(new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter: spans })] }));

const spec = PipelineSpecV1.parse({
  apiVersion: 'keel/v1',
  kind: 'Pipeline',
  id: 'toy-worker',
  task: 'binary-classification',
  target: { column: 'label', positive: 'yes' },
  features: [
    { name: 'x', type: 'numeric' },
    { name: 'c', type: 'categorical' },
  ],
  training: { algorithms: ['logistic-regression', 'gbdt'], primaryMetric: 'auc', seed: 7 },
});

/** 300 rows of a feature set, its transform, and the event that announced them. */
function input(): TrainingRunInput {
  const n = 300;
  const x = Array.from({ length: n }, (_, i) => ((i * 37) % 61) - 30);
  const c = x.map((_, i) => (i % 3 === 0 ? 'a' : 'b'));
  const split = x.map((_, i) => (i % 5 === 2 ? 'holdout' : i % 10 === 1 ? 'validation' : 'train'));
  const featureSet = writeParquet({
    rowCount: n,
    columns: [
      { name: 'x', type: 'number', values: x },
      { name: 'c', type: 'string', values: c },
      { name: 'label', type: 'string', values: x.map((v, i) => (v + (i % 7) > 2 ? 'yes' : 'no')) },
      { name: SPLIT_COLUMN, type: 'string', values: split },
    ],
  });
  const train = (values: unknown[]) => values.filter((_, i) => split[i] === 'train') as (number | string)[];
  const transform = Buffer.from(
    stableStringify(
      fitTransform({ x: train(x), c: train(c) }, [
        { name: 'x', kind: 'numeric', impute: 'mean', standardize: true },
        { name: 'c', kind: 'categorical', encoding: 'code', unknown: 'missing' },
      ]),
    ),
  );
  const features = {
    pipelineId: spec.id,
    datasetVersionId: derivedId('ds', [spec.id, 'd'.repeat(64)]),
    datasetSha256: 'd'.repeat(64),
    featureSetId: derivedId('fs', [spec.id, 'f']),
    featureSetUri: 's3://keel-features/toy/fs.parquet',
    featureSetSha256: 'f'.repeat(64),
    transformUri: 's3://keel-features/toy/t.json',
    transformSha256: 'e'.repeat(64),
    rowCounts: { train: 210, validation: 30, holdout: 60 },
  } as EventData<typeof FeaturesMaterializedV1>;
  return { spec, features, seed: 7, featureSet, transform, codeVersion: 'git:unit' };
}

describe('trainingRunTask', () => {
  const pool = new WorkerPool({ threads: 1 });
  afterAll(() => pool.close());

  it('trains on a worker thread and gives the package bytes training on the event loop gives', async () => {
    // given the same inputs, trained on this thread and on a worker
    const here = await trainAndPackage(input(), { progress: () => undefined });
    const there = await pool.run(trainingRunTask, input());
    // then the worker's thread was another one, and package, choice and metrics are identical
    const [span] = spans.getFinishedSpans().filter((s) => s.name === 'worker trainingRunTask');
    expect(span.attributes['keel.worker.thread_id']).not.toBe(threadId);
    expect(span.events.map((event) => event.attributes?.['keel.worker.stage'])).toEqual([
      'read feature set',
      'featurize',
      'train logistic-regression',
      'evaluate logistic-regression',
      'train gbdt',
      'evaluate gbdt',
      `refit ${here.algorithm} on the whole window`,
      'package',
    ]);
    expect(Buffer.from(there.packageBytes).equals(Buffer.from(here.packageBytes))).toBe(true);
    expect(there.algorithm).toBe(here.algorithm);
    expect(there.metrics).toEqual(here.metrics);
    expect(there.candidates.map(({ trainMs: _, ...rest }) => rest)).toEqual(
      here.candidates.map(({ trainMs: _, ...rest }) => rest),
    );
  }, 120_000);

  it('serves the chosen configuration refit on the whole window, and keeps the model its holdout metrics are from', async () => {
    // given the spec's default (refit) and the same run with the refit turned off
    const refit = await trainAndPackage(input(), { progress: () => undefined });
    const measuredOnly = input();
    measuredOnly.spec = PipelineSpecV1.parse({ ...spec, training: { ...spec.training, refitOnWholeWindow: false } });
    const plain = await trainAndPackage(measuredOnly, { progress: () => undefined });
    const pkg = parsePackage(Buffer.from(refit.packageBytes));
    const plainPkg = parsePackage(Buffer.from(plain.packageBytes));
    // then the served model saw every row, the measured one the train split, and the package says so
    expect(pkg.lineage.servedModelFittedOn).toEqual({ splits: ['train', 'validation', 'holdout'], rows: 300 });
    expect(pkg.evaluation?.fittedOn).toEqual({ splits: ['train'], rows: 210 });
    expect(stableStringify(pkg.model)).not.toBe(stableStringify(pkg.evaluation!.model));
    // and the measured model is the one a run without the refit serves, with the same metrics
    expect(plainPkg.evaluation).toBeUndefined();
    expect(plainPkg.lineage.servedModelFittedOn).toEqual({ splits: ['train'], rows: 210 });
    expect(stableStringify(pkg.evaluation!.model)).toBe(stableStringify(plainPkg.model));
    expect(refit.metrics).toEqual(plain.metrics);
    // and the package's metrics are the measured model's on the holdout, not the served one's
    const table = await readParquet(Buffer.from(input().featureSet));
    const split = table.columns.find((c) => c.name === SPLIT_COLUMN)!.values;
    const holdout = takeRows(
      table,
      [...split.keys()].filter((i) => split[i] === 'holdout'),
    );
    const column = (name: string) => holdout.columns.find((c) => c.name === name)!.values;
    const raw = { x: transformInputs(column('x')), c: transformInputs(column('c')) };
    expect(evaluatePackage(heldOutView(pkg), raw, column('label'))).toEqual(refit.metrics);
    expect(evaluatePackage(pkg, raw, column('label'))).not.toEqual(refit.metrics);
  }, 120_000);

  it('sends bad data back as a non-retryable failure with its code', async () => {
    const bad = input();
    bad.spec = { ...spec, target: { column: 'label', positive: 'maybe' } };
    await expect(pool.run(trainingRunTask, bad)).rejects.toMatchObject({ code: 'bad-feature-set', retryable: false });
  }, 120_000);
});
