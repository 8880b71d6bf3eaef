import { PipelineSpecV1 } from '@keel/contracts';
import { type DatasetTable } from '@keel/datasets';
import { fitTransform } from '@keel/ml-models';
import { parsePackage, serializePackage } from '@keel/model-package';
import { describe, expect, it } from 'vitest';
import { evaluateHoldout, trainModel } from './candidates';
import { buildModelPackage } from './package-builder';
import { featurize, linearVariant, prepareTrainingData, TrainingInputError } from './training-data';

const spec = PipelineSpecV1.parse({
  apiVersion: 'keel/v1',
  kind: 'Pipeline',
  id: 'toy-binary',
  task: 'binary-classification',
  target: { column: 'label', positive: 'yes' },
  features: [
    { name: 'x', type: 'numeric' },
    { name: 'c', type: 'categorical' },
  ],
  training: { algorithms: ['logistic-regression', 'gbdt'], primaryMetric: 'auc', seed: 7 },
});

/** 60 rows: label is "yes" when x > 0 (c carries no signal); rows 2, 7, 12, ... held out, every 10th+1 validates. */
function featureSet(): DatasetTable {
  const n = 60;
  const x = Array.from({ length: n }, (_, i) => ((i * 37) % 61) - 30);
  return {
    rowCount: n,
    columns: [
      { name: 'x', type: 'number', values: x },
      { name: 'c', type: 'string', values: x.map((_, i) => (i % 3 === 0 ? 'a' : 'b')) },
      { name: 'label', type: 'string', values: x.map((v) => (v > 0 ? 'yes' : 'no')) },
      {
        name: 'split',
        type: 'string',
        values: x.map((_, i) => (i % 5 === 2 ? 'holdout' : i % 10 === 1 ? 'validation' : 'train')),
      },
    ],
  };
}

describe('prepareTrainingData', () => {
  it('given a binary target, then the positive label is 1 and the other label seen is the negative', () => {
    const data = prepareTrainingData(featureSet(), spec);
    expect(data.classes).toEqual(['no', 'yes']);
    expect([data.splits.train.rows, data.splits.validation.rows, data.splits.holdout.rows]).toEqual([42, 6, 12]);
    expect(data.splits.holdout.y[0]).toBe(0); // row 2: x = -17
  });

  it('given a third label, then it is rejected naming the labels', () => {
    const table = featureSet();
    table.columns[2].values[3] = 'maybe';
    expect(() => prepareTrainingData(table, spec)).toThrow(TrainingInputError);
    expect(() => prepareTrainingData(table, spec)).toThrow(/found 2 \(no, maybe\)/);
  });
});

describe('linearVariant', () => {
  it('one-hot encodes categories and fills missing numerics for linear models', () => {
    const fitted = fitTransform({ x: [1, null, 3], c: ['a', 'b', 'a'] }, [
      { name: 'x', kind: 'numeric', impute: 'none', standardize: false },
      { name: 'c', kind: 'categorical', encoding: 'code', unknown: 'missing' },
    ]);
    expect(linearVariant(fitted).features).toEqual(['x', 'c=a', 'c=b']);
    expect(linearVariant(fitted).columns[0]).toMatchObject({ fill: 0 });
  });
});

describe('training and packaging', () => {
  function build() {
    const table = featureSet();
    const data = prepareTrainingData(table, spec);
    const transform = fitTransform({ x: data.splits.train.raw.x, c: data.splits.train.raw.c }, [
      { name: 'x', kind: 'numeric', impute: 'median', standardize: true },
      { name: 'c', kind: 'categorical', encoding: 'code', unknown: 'missing' },
    ]);
    const features = featurize(data, linearVariant(transform));
    const model = trainModel('logistic-regression', data, features, 7);
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
    return { pkg, metrics };
  }

  it('given a separable holdout, then every metric is perfect', () => {
    const { metrics } = build();
    expect(metrics).toMatchObject({ auc: 1, accuracy: 1, precision: 1, recall: 1, f1: 1 });
    expect(metrics.log_loss).toBeLessThan(0.5);
  });

  it('given the same inputs and seed, then the package bytes are identical and parse back', () => {
    const first = serializePackage(build().pkg);
    expect(serializePackage(build().pkg).equals(first)).toBe(true);
    const parsed = parsePackage(first);
    expect(parsed.target).toEqual({ column: 'label', positive: 'yes', negative: 'no' });
    expect(parsed.model.classes).toEqual(['no', 'yes']);
    expect(parsed.lineage).toMatchObject({ codeVersion: `git:${'9'.repeat(40)}`, trainRows: 42, holdoutRows: 12 });
    expect(Object.keys(parsed.reference)).toEqual(['c', 'x']);
  });
});
