import { derivedId, type EventData, type FeaturesMaterializedV1, PipelineSpecV1 } from '@keel/contracts';
import { type DatasetTable, writeParquet } from '@keel/datasets';
import { fitTransform, stableStringify } from '@keel/ml-models';
import { evaluatePackage, parsePackage, serializePackage } from '@keel/model-package';
import { describe, expect, it } from 'vitest';
import { evaluateHoldout, trainModel } from './candidates';
import { buildModelPackage } from './package-builder';
import { featurize, linearVariant, prepareTrainingData, TrainingInputError } from './training-data';
import { trainAndPackage } from './training-run.task';

const CLASSES = ['low', 'mid', 'high'];

const spec = PipelineSpecV1.parse({
  apiVersion: 'keel/v1',
  kind: 'Pipeline',
  id: 'toy-multiclass',
  task: 'multiclass-classification',
  target: { column: 'band', classes: CLASSES },
  features: [
    { name: 'x', type: 'numeric' },
    { name: 'c', type: 'categorical' },
  ],
  training: { algorithms: ['logistic-regression', 'gbdt'], primaryMetric: 'f1_macro', seed: 7 },
});

const bandOf = (x: number) => (x < -10 ? 'low' : x <= 10 ? 'mid' : 'high');

/** 180 rows: the band of x (c carries no signal); every 5th row (from 2) held out, every 10th (from 1) validates. */
function featureSet(): DatasetTable {
  const n = 180;
  const x = Array.from({ length: n }, (_, i) => ((i * 37) % 61) - 30);
  return {
    rowCount: n,
    columns: [
      { name: 'x', type: 'number', values: x },
      { name: 'c', type: 'string', values: x.map((_, i) => (i % 3 === 0 ? 'a' : 'b')) },
      { name: 'band', type: 'string', values: x.map(bandOf) },
      {
        name: 'split',
        type: 'string',
        values: x.map((_, i) => (i % 5 === 2 ? 'holdout' : i % 10 === 1 ? 'validation' : 'train')),
      },
    ],
  };
}

describe('multiclass training data', () => {
  it('given declared classes, then each label is its index in the declared order', () => {
    const data = prepareTrainingData(featureSet(), spec);
    expect(data.classes).toEqual(CLASSES);
    const x = data.splits.train.raw.x as number[];
    const y = data.splits.train.y;
    for (let i = 0; i < x.length; i++) expect(CLASSES[y[i]]).toBe(bandOf(x[i]));
  });

  it('given a label outside the declared classes, then the feature set is rejected naming it', () => {
    const table = featureSet();
    table.columns[2].values[3] = 'extreme';
    expect(() => prepareTrainingData(table, spec)).toThrow(TrainingInputError);
    expect(() => prepareTrainingData(table, spec)).toThrow(/outside the declared classes \(extreme\)/);
  });

  it('given one class only in the train split, then it is rejected', () => {
    const table = featureSet();
    table.columns[2].values = table.columns[2].values.map(() => 'mid');
    expect(() => prepareTrainingData(table, spec)).toThrow(/1 class in the train split/);
  });
});

describe('multiclass training and packaging', () => {
  function build(algorithm: 'logistic-regression' | 'gbdt') {
    const table = featureSet();
    const data = prepareTrainingData(table, spec);
    const transform = fitTransform({ x: data.splits.train.raw.x, c: data.splits.train.raw.c }, [
      { name: 'x', kind: 'numeric', impute: 'median', standardize: true },
      { name: 'c', kind: 'categorical', encoding: 'code', unknown: 'missing' },
    ]);
    const features = featurize(data, algorithm === 'gbdt' ? transform : linearVariant(transform));
    const model = trainModel(algorithm, data, features, 7);
    const metrics = evaluateHoldout(spec.task, model.document, features, data.splits.holdout.y);
    const pkg = buildModelPackage({
      spec,
      document: model.document,
      metrics,
      classes: data.classes,
      trainColumns: data.splits.train.raw,
      lineage: {
        datasetVersionId: 'ds-0123456789abcdef',
        datasetSha256: 'a'.repeat(64),
        featureSetId: 'fs-0123456789abcdef',
        featureSetSha256: 'b'.repeat(64),
        transformSha256: 'c'.repeat(64),
        seed: 7,
        codeVersion: `git:${'9'.repeat(40)}`,
        algorithm: model.algorithm,
        params: model.params,
        trainRows: data.splits.train.rows,
        holdoutRows: data.splits.holdout.rows,
      },
    });
    return { pkg, metrics, data, table };
  }

  it.each(['logistic-regression', 'gbdt'] as const)(
    'given %s, then a softmax model over the declared classes scores the holdout with multiclass metrics',
    (algorithm) => {
      const { pkg, metrics } = build(algorithm);
      expect(pkg.model.model.task).toBe('multiclass');
      expect(pkg.model.model.nOutputs).toBe(3);
      expect(Object.keys(metrics).sort()).toEqual(
        ['accuracy', 'f1_macro', 'f1_micro', 'f1_weighted', 'log_loss', 'precision_macro', 'recall_macro'].sort(),
      );
      expect(metrics.accuracy).toBeGreaterThan(0.8);
      expect(metrics.f1_micro).toBeCloseTo(metrics.accuracy, 12);
      expect(metrics.log_loss).toBeGreaterThan(0);
    },
  );

  it('given a multiclass package, then it names the classes and declares a [k] probability output, and parses', () => {
    const { pkg, metrics, data, table } = build('gbdt');
    const parsed = parsePackage(serializePackage(pkg));
    expect(parsed.target).toEqual({ column: 'band', classes: CLASSES });
    expect(parsed.model.classes).toEqual(CLASSES);
    expect(parsed.signature.outputs).toEqual([
      expect.objectContaining({ name: 'probability', datatype: 'FP64', shape: [3] }),
      expect.objectContaining({ name: 'label', datatype: 'BYTES' }),
    ]);
    // The registry's recomputation from raw rows agrees with training's holdout metrics.
    const holdout = [...table.columns[3].values.keys()].filter((i) => table.columns[3].values[i] === 'holdout');
    const raw = {
      x: holdout.map((i) => table.columns[0].values[i]),
      c: holdout.map((i) => table.columns[1].values[i]),
    };
    const recomputed = evaluatePackage(
      parsed,
      raw as Parameters<typeof evaluatePackage>[1],
      holdout.map((i) => table.columns[2].values[i]),
    );
    expect(recomputed).toEqual(metrics);
    expect(data.splits.holdout.rows).toBe(holdout.length);
  });

  it('given a package whose probability shape disagrees with its classes, then parsing fails', () => {
    const { pkg } = build('logistic-regression');
    pkg.signature.outputs[0].shape = [4];
    expect(() => parsePackage(serializePackage(pkg))).toThrow(/does not match 3 classes/);
  });
});

describe('a multiclass training run', () => {
  it('picks by f1_macro, refits on the whole window and packages both models with the declared classes', async () => {
    const table = featureSet();
    const split = table.columns[3].values;
    const train = (values: readonly unknown[]) => values.filter((_, i) => split[i] === 'train') as (number | string)[];
    const transform = fitTransform({ x: train(table.columns[0].values), c: train(table.columns[1].values) }, [
      { name: 'x', kind: 'numeric', impute: 'mean', standardize: true },
      { name: 'c', kind: 'categorical', encoding: 'code', unknown: 'missing' },
    ]);
    const features = {
      pipelineId: spec.id,
      datasetVersionId: derivedId('ds', [spec.id, 'd'.repeat(64)]),
      datasetSha256: 'd'.repeat(64),
      featureSetId: derivedId('fs', [spec.id, 'f']),
      featureSetUri: 's3://keel-features/toy/fs.parquet',
      featureSetSha256: 'f'.repeat(64),
      transformUri: 's3://keel-features/toy/t.json',
      transformSha256: 'e'.repeat(64),
      rowCounts: { train: 126, validation: 18, holdout: 36 },
    } as EventData<typeof FeaturesMaterializedV1>;
    const run = await trainAndPackage(
      {
        spec,
        features,
        seed: 7,
        featureSet: writeParquet(table),
        transform: Buffer.from(stableStringify(transform)),
        codeVersion: 'git:unit',
      },
      { progress: () => undefined },
    );
    const best = Math.max(...run.candidates.map((c) => c.metrics.f1_macro));
    expect(run.metrics.f1_macro).toBe(best);
    const pkg = parsePackage(Buffer.from(run.packageBytes));
    expect(pkg.task).toBe('multiclass-classification');
    expect(pkg.model.classes).toEqual(CLASSES);
    expect(pkg.evaluation?.model.classes).toEqual(CLASSES);
    expect(pkg.model.model.nOutputs).toBe(3);
    expect(pkg.lineage.servedModelFittedOn?.rows).toBe(180);
  }, 60_000);
});
