import { describe, expect, it } from 'vitest';
import { InvalidParameterError } from '../core/errors';
import { matrixFromRows } from '../core/matrix';
import { trainGbdt } from '../gbdt/train';
import { Predictor } from '../model/predictor';
import { createModelDocument } from '../model/document';
import { trainLogisticRegression } from './logistic';
import { trainLinearRegression } from './ridge';

/** Rows where the relation flips halfway: old rows y = x, new rows y = -x (a concept that drifted). */
const rows = Array.from({ length: 200 }, (_, i) => [((i * 37) % 100) / 10 - 5]);
const drifting = rows.map(([x], i) => (i < 100 ? x : -x));
const newOnly = (w: number, i: number) => (i < 100 ? 0 : w);

describe('sample weights', () => {
  it('given zero weight on the old rows, when ridge is fitted, then it equals a fit on the new rows alone', () => {
    const weighted = trainLinearRegression(matrixFromRows(rows), drifting, {
      sampleWeights: rows.map((_, i) => newOnly(1, i)),
    });
    const alone = trainLinearRegression(matrixFromRows(rows.slice(100)), drifting.slice(100));
    expect(weighted.weights[0]).toBeCloseTo(alone.weights[0], 10);
    expect(weighted.intercepts[0]).toBeCloseTo(alone.intercepts[0], 10);
    expect(weighted.weights[0]).toBeCloseTo(-1, 6);
  });

  it('given zero weight on the old rows, when logistic regression is fitted, then it matches the new rows alone', () => {
    const labels = rows.map(([x], i) => ((i < 100 ? x : -x) > 0 ? 1 : 0));
    const weighted = trainLogisticRegression(matrixFromRows(rows), labels, {
      l2: 0.01,
      sampleWeights: rows.map((_, i) => newOnly(1, i)),
    });
    const alone = trainLogisticRegression(matrixFromRows(rows.slice(100)), labels.slice(100), { l2: 0.01 });
    expect(weighted.weights[0]).toBeCloseTo(alone.weights[0], 3);
    expect(weighted.weights[0]).toBeLessThan(0);
  });

  it('given weights that favour the new rows, when GBDT is fitted, then it follows the new relation', () => {
    const x = matrixFromRows(rows);
    const options = { objective: 'regression' as const, maxIterations: 50, minSamplesLeaf: 5, seed: 1 };
    const unweighted = trainGbdt(x, drifting, options).model;
    const weighted = trainGbdt(x, drifting, {
      ...options,
      sampleWeights: rows.map((_, i) => newOnly(1, i) + 1e-3),
    }).model;
    const at = (model: typeof weighted, value: number) =>
      new Predictor(createModelDocument({ model, features: ['x'] })).predictRow([value]);
    // Old and new rows cancel out without weights; with them, x = 4 predicts about -4.
    expect(Math.abs(at(unweighted, 4))).toBeLessThan(1);
    expect(at(weighted, 4)).toBeLessThan(-3);
  });

  it('given unit weights, when GBDT is fitted, then the model is the unweighted one', () => {
    const x = matrixFromRows(rows);
    const options = { objective: 'regression' as const, maxIterations: 20, seed: 1 };
    expect(trainGbdt(x, drifting, { ...options, sampleWeights: rows.map(() => 1) }).model).toEqual(
      trainGbdt(x, drifting, options).model,
    );
  });

  it('given negative or mismatched weights, then the trainer refuses them', () => {
    const x = matrixFromRows(rows);
    expect(() => trainLinearRegression(x, drifting, { sampleWeights: [1, 2] })).toThrow(InvalidParameterError);
    expect(() => trainLinearRegression(x, drifting, { sampleWeights: rows.map(() => -1) })).toThrow(
      InvalidParameterError,
    );
  });
});
