import { type DatasetTable, writeParquet } from '@keel/datasets';
import { createModelDocument, fitTransform, matrixFromRows, trainLogisticRegression } from '@keel/ml-models';
import { buildReference, type ModelPackage, parsePackage, serializePackage } from '@keel/model-package';
import { describe, expect, it } from 'vitest';
import { compareOnSameRows } from './champion-comparison.task';

const inputs = [{ name: 'x', datatype: 'FP64' as const, kind: 'numeric' as const, nullable: true }];

/** A package whose model says "yes" for x > 0 (or, flipped, for x < 0). */
function packageOf(flipped: boolean): Buffer {
  const xs = [-3, -2, -1, 1, 2, 3];
  const preprocessing = fitTransform({ x: xs }, [{ name: 'x', kind: 'numeric', impute: 'median', standardize: false }]);
  const model = trainLogisticRegression(
    matrixFromRows(xs.map((x) => [x])),
    xs.map((x) => (x > 0 !== flipped ? 1 : 0)),
    { l2: 0.01 },
  );
  const pkg: ModelPackage = {
    format: 'keel.package',
    version: 1,
    pipelineId: 'p',
    modelName: 'p',
    task: 'binary-classification',
    target: { column: 'label', positive: 'yes', negative: 'no' },
    signature: { inputs, outputs: [] },
    model: createModelDocument({ model, preprocessing, classes: ['no', 'yes'] }),
    metrics: {},
    lineage: {
      datasetVersionId: `ds-${'a'.repeat(32)}`,
      datasetSha256: 'a'.repeat(64),
      featureSetId: `fs-${'b'.repeat(32)}`,
      featureSetSha256: 'b'.repeat(64),
      transformSha256: 'c'.repeat(64),
      codeVersion: 'test',
      seed: 1,
      algorithm: 'logistic-regression',
      params: {},
      trainRows: 6,
      holdoutRows: 0,
    },
    reference: buildReference(inputs, { x: xs }),
  };
  return serializePackage(pkg);
}

/** A feature set of rows keyed 1..n, x alternating sign, labelled by the flipped concept, with the given splits. */
function featureSet(keys: number[], splits: string[]): Buffer {
  const xs = keys.map((key) => (key % 2 === 0 ? key : -key));
  const table: DatasetTable = {
    rowCount: keys.length,
    columns: [
      { name: 'x', type: 'number', values: xs },
      { name: 'label', type: 'string', values: xs.map((x) => (x < 0 ? 'yes' : 'no')) },
      { name: '_row_key', type: 'number', values: keys },
      { name: 'split', type: 'string', values: splits },
    ],
  };
  return writeParquet(table);
}

const progress = { progress: () => undefined };

describe('compareOnSameRows', () => {
  it('scores both packages on the candidate holdout rows the champion never trained or validated on', async () => {
    const keys = Array.from({ length: 12 }, (_, i) => i + 1);
    // The candidate holds out rows 1-8; the champion had trained on rows 1-2 and validated on row 3.
    const candidateFeatureSet = featureSet(
      keys,
      keys.map((k) => (k <= 8 ? 'holdout' : 'train')),
    );
    const championFeatureSet = featureSet([1, 2, 3, 4], ['train', 'train', 'validation', 'holdout']);
    const compared = await compareOnSameRows(
      {
        primaryMetric: 'accuracy',
        candidatePackage: packageOf(true),
        championPackage: packageOf(false),
        candidateFeatureSet,
        championFeatureSet,
      },
      progress,
    );
    expect(compared).toMatchObject({ rows: 5, excludedRows: 3 });
    expect(compared.candidate.accuracy).toBe(1);
    expect(compared.champion.accuracy).toBe(0);
  });

  it('given packages refit on the whole window, then both are scored with their models from before the refit', async () => {
    // A served model that saw its holdout is no judge of it: each package's evaluation model is what is compared.
    const refit = (served: boolean, measured: boolean): Buffer => {
      const pkg = parsePackage(packageOf(served));
      const evaluation = { model: parsePackage(packageOf(measured)).model, fittedOn: { splits: ['train'], rows: 6 } };
      return serializePackage({ ...pkg, evaluation } as ModelPackage);
    };
    const keys = [1, 2, 3, 4];
    const compared = await compareOnSameRows(
      {
        primaryMetric: 'accuracy',
        candidatePackage: refit(false, true),
        championPackage: refit(true, false),
        candidateFeatureSet: featureSet(keys, ['holdout', 'holdout', 'holdout', 'holdout']),
      },
      progress,
    );
    expect(compared.candidate.accuracy).toBe(1);
    expect(compared.champion.accuracy).toBe(0);
  });

  it('without the champion feature set, scores every candidate holdout row', async () => {
    const keys = [1, 2, 3, 4];
    const compared = await compareOnSameRows(
      {
        primaryMetric: 'accuracy',
        candidatePackage: packageOf(true),
        championPackage: packageOf(true),
        candidateFeatureSet: featureSet(keys, ['holdout', 'holdout', 'train', 'holdout']),
      },
      progress,
    );
    expect(compared).toMatchObject({ rows: 3, excludedRows: 0 });
    expect(compared.candidate).toEqual(compared.champion);
  });
});
