import { createModelDocument, fitTransform, trainLogisticRegression, TransformRunner } from '@keel/ml-models';
import { type ModelPackage, outputsForTask, PACKAGE_FORMAT, PACKAGE_VERSION } from '@keel/model-package';
import { describe, expect, it } from 'vitest';
import { LoadedModel } from './loaded-model';

function tinyPackage(): ModelPackage {
  const table = { x: [0, 1, 2, 3, 4, 5], c: ['a', 'b', 'a', 'b', 'a', 'b'] };
  const transform = fitTransform(table, [
    { name: 'x', kind: 'numeric', standardize: true },
    { name: 'c', kind: 'categorical', encoding: 'onehot' },
  ]);
  const model = trainLogisticRegression(new TransformRunner(transform).table(table), [0, 0, 0, 1, 1, 1], { l2: 0.1 });
  return {
    format: PACKAGE_FORMAT,
    version: PACKAGE_VERSION,
    pipelineId: 'tiny',
    modelName: 'tiny',
    task: 'binary-classification',
    target: { column: 'y', positive: 'yes', negative: 'no' },
    signature: {
      inputs: [
        { name: 'x', datatype: 'FP64', kind: 'numeric', nullable: false },
        { name: 'c', datatype: 'BYTES', kind: 'categorical', nullable: true },
      ],
      outputs: outputsForTask('binary-classification'),
    },
    model: createModelDocument({ model, preprocessing: transform, classes: ['no', 'yes'] }),
    metrics: {},
    lineage: {} as ModelPackage['lineage'],
    reference: {},
  };
}

const source = { version: 2, packageUri: 's3://keel-models/tiny/x.json', packageSha256: '0'.repeat(64) };

describe('LoadedModel', () => {
  it('given a binary package, when predicting raw columns, then P(positive) and the label at 0.5', () => {
    const model = LoadedModel.build('tiny', tinyPackage(), source);
    const { probability, label } = model.predict({ rows: 2, columns: { x: Float64Array.of(0, 5), c: ['a', null] } });
    expect(probability[0]).toBeLessThan(0.5);
    expect(probability[1]).toBeGreaterThan(0.5);
    expect(label).toEqual(['no', 'yes']);
    expect(model.version).toBe(2);
  });

  it('given a package whose model does not match its preprocessing, when built, then the smoke prediction fails', () => {
    const pkg = tinyPackage();
    pkg.model.preprocessing!.columns.pop();
    pkg.model.preprocessing!.features = pkg.model.preprocessing!.features.slice(0, 1);
    expect(() => LoadedModel.build('tiny', pkg, source)).toThrow();
  });
});
