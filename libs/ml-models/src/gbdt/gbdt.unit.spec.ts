import { describe, expect, it } from 'vitest';
import { InvalidParameterError, InvalidTrainingDataError } from '../core/errors';
import { matrixFromRows } from '../core/matrix';
import { createModelDocument, serializeModel } from '../model/document';
import { Predictor } from '../model/predictor';
import { auc, syntheticBinary } from '../testing/synthetic';
import { fitBinMapper, binRows } from './binning';
import { trainGbdt } from './train';

const predictor = (model: Parameters<typeof createModelDocument>[0]['model']) =>
  new Predictor(createModelDocument({ model }));

describe('binning', () => {
  it('given few distinct values, when fitted, then cuts sit at float32 midpoints and NaN gets the last bin', () => {
    const x = matrixFromRows([[1], [2], [2], [4], [NaN]]);
    const m = fitBinMapper(x, Uint32Array.of(0, 1, 2, 3, 4), [], 255);
    expect(Array.from(m.thresholds[0])).toEqual([1.5, 3]);
    expect(m.nBins[0]).toBe(3);
    expect(Array.from(binRows(m, x, Uint32Array.of(0, 1, 2, 3, 4)))).toEqual([0, 1, 1, 2, 3]);
  });

  it('given many distinct values, when fitted with maxBins 4, then 3 quantile cuts are made', () => {
    const x = matrixFromRows(Array.from({ length: 100 }, (_, i) => [i]));
    const m = fitBinMapper(
      x,
      Uint32Array.from({ length: 100 }, (_, i) => i),
      [],
      4,
    );
    expect(Array.from(m.thresholds[0])).toEqual([24.5, 49.5, 74.5]);
  });
});

/** One regression stump fitted exactly: a single split, full step, leaves as small as one row. */
const ONE_STUMP = {
  objective: 'regression',
  maxIterations: 1,
  learningRate: 1,
  maxLeaves: 2,
  minSamplesLeaf: 1,
} as const;

describe('trainGbdt', () => {
  it('given a step function, when fitted with squared error, then one stump reproduces it', () => {
    const rows = Array.from({ length: 40 }, (_, i) => [i]);
    const y = rows.map(([v]) => (v < 20 ? 1 : 5));
    const { model } = trainGbdt(matrixFromRows(rows), y, ONE_STUMP);
    expect(model.feature).toEqual([0, -1, -1]);
    expect(model.threshold[0]).toBe(19.5);
    const p = predictor(model);
    expect(p.predictRow([3])).toBeCloseTo(1, 12);
    expect(p.predictRow([30])).toBeCloseTo(5, 12);
  });

  it('given NaNs that all have large targets, when fitted, then NaN learns to go with them', () => {
    const rows = [...Array.from({ length: 30 }, (_, i) => [i]), ...Array.from({ length: 10 }, () => [NaN])];
    const y = rows.map(([v]) => (Number.isNaN(v) || v >= 20 ? 10 : 0));
    const { model } = trainGbdt(matrixFromRows(rows), y, ONE_STUMP);
    const p = predictor(model);
    expect(p.predictRow([NaN])).toBeCloseTo(10, 12);
    expect(p.predictRow([5])).toBeCloseTo(0, 12);
  });

  it('given a categorical feature whose codes {1, 3} are positive, when fitted, then one split isolates them', () => {
    const rows: number[][] = [];
    const y: number[] = [];
    for (let i = 0; i < 100; i++) {
      rows.push([i % 5]);
      y.push(i % 5 === 1 || i % 5 === 3 ? 1 : 0);
    }
    const { model } = trainGbdt(matrixFromRows(rows), y, {
      ...ONE_STUMP,
      categoricalFeatures: [0],
      catL2: 0,
      catSmooth: 0,
    });
    expect(model.catOffset[0]).toBe(0);
    const p = predictor(model);
    expect([0, 1, 2, 3, 4].map((c) => Math.round(p.predictRow([c]) * 1e9) / 1e9 + 0)).toEqual([0, 1, 0, 1, 0]);
    // Codes in no category set (unseen, negative, fractional, huge) all take the right branch.
    const outside = [7, -1, 2.5, 300, 2 ** 40].map((c) => p.predictRow([c]));
    expect(new Set(outside).size).toBe(1);
  });

  it('given a noisy binary problem with missing values, when fitted, then test AUC is high', () => {
    const train = syntheticBinary(3000, 1, 0.1);
    const test = syntheticBinary(1000, 2, 0.1);
    const { model, info } = trainGbdt(train.x, train.y, { objective: 'binary', categoricalFeatures: [2], seed: 3 });
    expect(auc(test.y, predictor(model).predictBatch(test.x))).toBeGreaterThan(0.85);
    // x0 (weight 2 on the logit) matters most.
    expect(info.featureGain[0]).toBe(Math.max(...info.featureGain));
  });

  it('given the same data and seed with subsampling, when trained twice, then the JSON is byte-identical', () => {
    const { x, y } = syntheticBinary(1500, 4, 0.05);
    const opts = {
      objective: 'binary' as const,
      subsample: 0.7,
      colsample: 0.75,
      categoricalFeatures: [2],
      seed: 11,
      maxIterations: 30,
    };
    const a = serializeModel(createModelDocument({ model: trainGbdt(x, y, opts).model }));
    const b = serializeModel(createModelDocument({ model: trainGbdt(x, y, opts).model }));
    expect(a).toBe(b);
    const c = serializeModel(createModelDocument({ model: trainGbdt(x, y, { ...opts, seed: 12 }).model }));
    expect(c).not.toBe(a);
  });

  it('given early stopping, when the validation loss stops improving, then training stops and keeps the best round', () => {
    const { x, y } = syntheticBinary(2000, 5);
    const { model, info } = trainGbdt(x, y, {
      objective: 'binary',
      maxIterations: 500,
      learningRate: 0.3,
      earlyStoppingRounds: 5,
      seed: 1,
    });
    expect(info.iterations).toBeLessThan(500);
    expect(info.bestIteration).toBe(info.iterations - 5);
    expect(model.treeRoots.length).toBe(info.bestIteration);
    const best = Math.min(...info.validationLoss);
    expect(info.validationLoss[info.bestIteration - 1]).toBe(best);
  });

  it('given maxDepth 1, when fitted, then every tree is a stump', () => {
    const { x, y } = syntheticBinary(500, 6);
    const { model } = trainGbdt(x, y, { objective: 'binary', maxDepth: 1, maxIterations: 5 });
    expect(model.feature.length).toBe(15);
  });

  it('given three classes, when fitted with softmax, then there is one tree per class per round and accuracy is high', () => {
    const rows: number[][] = [];
    const y: number[] = [];
    for (let i = 0; i < 300; i++) {
      const v = (i * 7919) % 300;
      rows.push([v, (i * 31) % 17]);
      y.push(v < 100 ? 0 : v < 200 ? 1 : 2);
    }
    const { model } = trainGbdt(matrixFromRows(rows), y, { objective: 'multiclass', maxIterations: 10 });
    expect(model.treeRoots.length).toBe(30);
    expect(model.treeOutputs.slice(0, 3)).toEqual([0, 1, 2]);
    const p = predictor(model);
    let correct = 0;
    rows.forEach((r, i) => (correct += p.predictRow(r) === y[i] ? 1 : 0));
    expect(correct).toBe(300);
    const probs = p.predictProbaRow([250, 3]);
    expect(probs[0] + probs[1] + probs[2]).toBeCloseTo(1, 12);
  });

  it('given bad input, when training, then typed errors are thrown', () => {
    const x = matrixFromRows([[1], [2], [3]]);
    expect(() => trainGbdt(x, [0, 1, NaN], { objective: 'binary' })).toThrow(InvalidTrainingDataError);
    expect(() => trainGbdt(x, [0, 0, 0], { objective: 'binary' })).toThrow(/only one class/);
    expect(() => trainGbdt(x, [0, 1, 2], { objective: 'binary' })).toThrow(/0 or 1/);
    expect(() => trainGbdt(x, [1, 2], { objective: 'regression' })).toThrow(/2 labels for 3 rows/);
    expect(() => trainGbdt(x, [1, 2, Infinity], { objective: 'regression' })).toThrow(/label at row 2/);
    expect(() =>
      trainGbdt(matrixFromRows([[0.5], [1], [2]]), [0, 1, 0], { objective: 'binary', categoricalFeatures: [0] }),
    ).toThrow(/codes must be integers/);
    expect(() => trainGbdt(x, [0, 1, 0], { objective: 'binary', learningRate: 0 })).toThrow(InvalidParameterError);
    expect(() => trainGbdt(x, [0, 1, 0], { objective: 'binary', subsample: 1.5 })).toThrow(InvalidParameterError);
  });
});

describe('trainGbdt inputs and options', () => {
  it('given the same data as Float32Array and Float64Array, when trained, then the models are identical', () => {
    const { x, y } = syntheticBinary(600, 8, 0.05);
    const x32 = { data: Float32Array.from(x.data), nRows: x.nRows, nCols: x.nCols };
    const x64 = { data: Float64Array.from(x32.data), nRows: x.nRows, nCols: x.nCols };
    const opts = { objective: 'binary' as const, categoricalFeatures: [2], maxIterations: 10 };
    expect(trainGbdt(x32, y, opts).model).toEqual(trainGbdt(x64, y, opts).model);
  });

  it('given explicit validation data, when early stopping, then that data decides the best round', () => {
    const train = syntheticBinary(1000, 9);
    const valid = syntheticBinary(300, 10);
    const { info } = trainGbdt(train.x, train.y, {
      objective: 'binary',
      maxIterations: 300,
      learningRate: 0.5,
      earlyStoppingRounds: 3,
      validation: { x: valid.x, y: valid.y },
    });
    expect(info.validationLoss.length).toBe(info.iterations);
    expect(info.iterations).toBeLessThan(300);
  });

  it('given validation data of another width, when training, then length_mismatch is reported', () => {
    const train = syntheticBinary(100, 1);
    const bad = matrixFromRows([[1, 2]]);
    expect(() =>
      trainGbdt(train.x, train.y, { objective: 'binary', earlyStoppingRounds: 2, validation: { x: bad, y: [1] } }),
    ).toThrow(/different number of features/);
  });

  it('given a linear target, when fitted with squared error, then the training error shrinks with rounds', () => {
    const rows = Array.from({ length: 200 }, (_, i) => [i / 10, (i * 7) % 13]);
    const y = rows.map(([a, b]) => 3 * a - b);
    const mse = (iters: number) => {
      const p = predictor(trainGbdt(matrixFromRows(rows), y, { objective: 'regression', maxIterations: iters }).model);
      return rows.reduce((s, r, i) => s + (p.predictRow(r) - y[i]) ** 2, 0) / rows.length;
    };
    expect(mse(50)).toBeLessThan(mse(10) / 4);
  });
});
