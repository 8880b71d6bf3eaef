import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvalidModelError } from '../core/errors';
import { type Matrix } from '../core/matrix';
import { trainGbdt } from '../gbdt/train';
import { trainLogisticRegression } from '../linear/logistic';
import { trainLinearRegression } from '../linear/ridge';
import { createModelDocument, type ModelBody } from '../model/document';
import { Predictor } from '../model/predictor';
import { syntheticBinary } from '../testing/synthetic';
import { exportOnnx } from './export';
import { OnnxModel } from './onnx-model';

/** ONNX runs in float32, so both sides get float32-rounded inputs. */
function float32Rounded(x: Matrix): Matrix {
  return { data: Float64Array.from(Float32Array.from(x.data)), nRows: x.nRows, nCols: x.nCols };
}

async function maxDifference(model: ModelBody, x: Matrix): Promise<number> {
  const doc = createModelDocument({ model });
  const onnx = await OnnxModel.fromBytes(exportOnnx(doc));
  const xf = float32Rounded(x);
  const ours = new Predictor(doc).predictBatch(xf);
  let out: Float64Array;
  let width: number;
  if (model.task === 'regression') {
    const r = await onnx.run(xf);
    out = Float64Array.from(r.variable.data as Float32Array);
    width = 1;
  } else {
    ({ data: out, width } = await onnx.predictProba(xf));
  }
  await onnx.dispose();
  const oursWidth = model.task === 'multiclass' ? width : 1;
  let max = 0;
  for (let i = 0; i < x.nRows; i++) {
    for (let j = 0; j < oursWidth; j++) {
      // Binary: compare P(class 1), the last ONNX column.
      const theirs = out[i * width + (model.task === 'binary' ? 1 : j)];
      max = Math.max(max, Math.abs(theirs - ours[i * oursWidth + j]));
    }
  }
  return max;
}

describe('exportOnnx agrees with our evaluator on every test row (onnxruntime-node, CPU)', () => {
  const train = syntheticBinary(2000, 1, 0.1);
  const test = syntheticBinary(500, 2, 0.1);
  const dense = syntheticBinary(1000, 3, 0);
  const denseTest = syntheticBinary(300, 4, 0);

  it('given a binary GBDT with NaNs and categorical splits, then TreeEnsembleClassifier matches within 1e-5', async () => {
    const { model } = trainGbdt(train.x, train.y, { objective: 'binary', categoricalFeatures: [2], seed: 1 });
    expect(model.catOffset.some((c) => c >= 0)).toBe(true);
    expect(await maxDifference(model, test.x)).toBeLessThan(1e-5);
  });

  it('given a multiclass GBDT, then class probabilities match within 1e-5', async () => {
    const y = Uint8Array.from(train.y, (v, i) => (v === 1 ? 2 : train.x.data[i * 4 + 1] > 0 ? 1 : 0));
    const { model } = trainGbdt(train.x, y, { objective: 'multiclass', categoricalFeatures: [2], maxIterations: 30 });
    expect(await maxDifference(model, test.x)).toBeLessThan(1e-5);
  });

  it('given a GBDT regressor, then TreeEnsembleRegressor matches within 1e-5 (relative to the scale)', async () => {
    const y = Float64Array.from({ length: train.x.nRows }, (_, i) => train.x.data[i * 4 + 1] * 3 + train.y[i]);
    const { model } = trainGbdt(train.x, y, { objective: 'regression', categoricalFeatures: [2], maxIterations: 50 });
    expect(await maxDifference(model, test.x)).toBeLessThan(1e-5 * 10);
  });

  it('given binary and multiclass logistic regressions, then LinearClassifier matches within 1e-5', async () => {
    expect(await maxDifference(trainLogisticRegression(dense.x, dense.y), denseTest.x)).toBeLessThan(1e-5);
    const y3 = Uint8Array.from(dense.y, (v, i) => (v === 1 ? 2 : dense.x.data[i * 4 + 1] > 0 ? 1 : 0));
    expect(await maxDifference(trainLogisticRegression(dense.x, y3), denseTest.x)).toBeLessThan(1e-5);
  });

  it('given a linear regression, then LinearRegressor matches within 1e-5', async () => {
    const y = Float64Array.from({ length: dense.x.nRows }, (_, i) => dense.x.data[i * 4] - 2 * dense.x.data[i * 4 + 3]);
    expect(await maxDifference(trainLinearRegression(dense.x, y), denseTest.x)).toBeLessThan(1e-5);
  });

  it('given the same model, when exported twice, then the bytes are identical', () => {
    const { model } = trainGbdt(train.x, train.y, { objective: 'binary', maxIterations: 5 });
    const doc = createModelDocument({ model });
    expect(Buffer.from(exportOnnx(doc)).equals(Buffer.from(exportOnnx(doc)))).toBe(true);
  });
});

describe('OnnxModel (models trained elsewhere)', () => {
  const dir = resolve(__dirname, 'fixtures');
  const expected = JSON.parse(readFileSync(resolve(dir, 'expected.json'), 'utf8')) as Record<
    string,
    number[] & number[][]
  >;
  const inputs = expected.inputs as number[][];
  const x: Matrix = { data: Float64Array.from(inputs.flat()), nRows: inputs.length, nCols: 3 };

  for (const name of ['sklearn-logreg', 'lightgbm-binary', 'xgboost-binary']) {
    it(`given ${name}.onnx, when predicting a batch, then P(class 1) matches the Python model within 1e-5`, async () => {
      const model = await OnnxModel.fromBytes(readFileSync(resolve(dir, `${name}.onnx`)));
      const { data, width } = await model.predictProba(x);
      await model.dispose();
      expect(width).toBe(2);
      const want = expected[name] as number[];
      want.forEach((p, i) => expect(Math.abs(data[i * 2 + 1] - p)).toBeLessThan(1e-5));
    });
  }

  it('given bytes that are not ONNX, when loading, then InvalidModelError is thrown', async () => {
    await expect(OnnxModel.fromBytes(new Uint8Array([1, 2, 3]))).rejects.toBeInstanceOf(InvalidModelError);
  });
});
