import { describe, expect, it } from 'vitest';
import { InvalidInputError, InvalidModelError, UnknownCategoryError } from '../core/errors';
import { trainGbdt } from '../gbdt/train';
import { trainLogisticRegression } from '../linear/logistic';
import { fitTransform, TransformRunner } from '../preprocess/transform';
import { createModelDocument, parseModel, serializeModel } from './document';
import { Predictor } from './predictor';

const table = {
  size: [1, 2, 3, 4, 5, 6, 7, 8, null, 10, 11, 12],
  color: ['red', 'blue', 'red', 'green', 'blue', 'red', 'green', 'blue', 'red', 'green', null, 'blue'],
};
const y = [0, 0, 0, 1, 0, 1, 1, 0, 1, 1, 1, 1];

function trainPipeline() {
  const pre = fitTransform(table, [
    { name: 'size', kind: 'numeric', impute: 'mean', standardize: true },
    { name: 'color', kind: 'categorical', encoding: 'onehot', unknown: 'error' },
  ]);
  const x = new TransformRunner(pre).table(table);
  const model = trainLogisticRegression(x, y, { l2: 0.1 });
  return createModelDocument({ model, preprocessing: pre, classes: ['no', 'yes'], training: { l2: 0.1 } });
}

describe('model document', () => {
  it('given the same data, when trained and serialised twice, then the bytes are identical and keys sorted', () => {
    const a = serializeModel(trainPipeline());
    expect(serializeModel(trainPipeline())).toBe(a);
    expect(a.startsWith('{"classes":["no","yes"],"features":')).toBe(true);
    expect(a).toContain('"format":"keel.model"');
    expect(a).toContain('"version":1');
  });

  it('given a serialised model, when parsed and compiled, then predictions match the in-memory model', () => {
    const doc = trainPipeline();
    const p1 = new Predictor(doc);
    const p2 = Predictor.fromJson(serializeModel(doc));
    const rec = { size: 7, color: 'green' };
    expect(p2.predictRecord(rec)[0]).toBe(p1.predictRecord(rec)[0]);
    // Logistic: P = σ(b + w·x) computed by hand from the document.
    const m = doc.model;
    if (m.kind !== 'linear') throw new Error('expected linear');
    const x = new TransformRunner(doc.preprocessing!).records([rec]).data;
    let s = m.intercepts[0];
    x.forEach((v, j) => (s += m.weights[j] * v));
    expect(p1.predictRecord(rec)[0]).toBeCloseTo(1 / (1 + Math.exp(-s)), 14);
  });

  it("given policy 'error', when a record has an unseen category, then prediction throws UnknownCategoryError", () => {
    const p = new Predictor(trainPipeline());
    expect(() => p.predictRecord({ size: 3, color: 'purple' })).toThrow(UnknownCategoryError);
  });

  it('given malformed documents, when parsed, then InvalidModelError explains why', () => {
    const good = serializeModel(trainPipeline());
    expect(() => parseModel('{')).toThrow(InvalidModelError);
    expect(() => parseModel(good.replace('"keel.model"', '"other"'))).toThrow(/format/);
    expect(() => parseModel(good.replace('"version":1', '"version":2'))).toThrow(/unsupported version/);
  });

  it('given a row of the wrong width, when predicting, then InvalidInputError is thrown', () => {
    const p = new Predictor(trainPipeline());
    expect(() => p.predictRow([1, 2])).toThrow(InvalidInputError);
  });

  it('given a GBDT with preprocessing, when predicting a batch of records, then it equals row-by-row prediction', () => {
    const pre = fitTransform(table, [
      { name: 'size', kind: 'numeric', impute: 'none' },
      { name: 'color', kind: 'categorical', encoding: 'code', unknown: 'missing' },
    ]);
    const x = new TransformRunner(pre).table(table);
    const { model } = trainGbdt(x, y, {
      objective: 'binary',
      minSamplesLeaf: 2,
      categoricalFeatures: pre.categoricalFeatures,
      maxIterations: 5,
    });
    const p = new Predictor(createModelDocument({ model, preprocessing: pre }));
    const records = [
      { size: 2, color: 'red' },
      { size: null, color: 'purple' },
    ];
    const batch = p.predictRecords(records);
    expect(batch[0]).toBe(p.predictRecord(records[0])[0]);
    expect(batch[1]).toBe(p.predictRecord(records[1])[0]);
  });
});

describe('tree evaluator layouts', () => {
  const stump = (threshold: number) =>
    createModelDocument({
      model: {
        kind: 'gbdt',
        task: 'regression',
        nFeatures: 1,
        nOutputs: 1,
        baseScores: [0],
        treeRoots: [0],
        treeOutputs: [0],
        feature: [0, -1, -1],
        threshold: [threshold, 0, 0],
        missingLeft: [1, 0, 0],
        left: [1, -1, -1],
        right: [2, -1, -1],
        value: [0, -1, 1],
        catOffset: [-1, -1, -1],
        catBits: [],
      },
    });

  it('given a float32 threshold, when evaluated, then values at the threshold go left and NaN follows missingLeft', () => {
    const p = new Predictor(stump(0.5));
    expect([p.predictRow([0.5]), p.predictRow([0.50001]), p.predictRow([NaN])]).toEqual([-1, 1, -1]);
  });

  it('given a threshold that is not a float32 value, when evaluated, then it is compared in float64', () => {
    const p = new Predictor(stump(0.1));
    // 0.1 rounded to float32 is 0.10000000149..., so a float32 layout would send this row left.
    expect(p.predictRow([0.10000000001])).toBe(1);
    expect(p.predictRow([0.1])).toBe(-1);
  });
});
