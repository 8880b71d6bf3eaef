import { describe, expect, it } from 'vitest';
import { InvalidParameterError, InvalidTrainingDataError } from '../core/errors';
import { matrixFromRows } from '../core/matrix';
import { syntheticBinary } from '../testing/synthetic';
import { trainLogisticRegression } from './logistic';
import { trainLinearRegression } from './ridge';

describe('trainLinearRegression', () => {
  it('given y = 2·x0 - 3·x1 + 1 exactly, when fitted by OLS, then the coefficients are recovered', () => {
    const x = matrixFromRows([
      [0, 0],
      [1, 0],
      [0, 1],
      [1, 1],
      [2, 3],
    ]);
    const y = [1, 3, -2, 0, -4];
    const m = trainLinearRegression(x, y);
    expect(m.weights[0]).toBeCloseTo(2, 10);
    expect(m.weights[1]).toBeCloseTo(-3, 10);
    expect(m.intercepts[0]).toBeCloseTo(1, 10);
  });

  it('given a ridge penalty, when fitted, then the slope shrinks by n·λ/(Σx² + n·λ) on centred data', () => {
    // x = [-1, 1], y = [-1, 1]: slope = (Σxy/n) / (Σx²/n + λ) = 1 / (1 + λ).
    const m = trainLinearRegression(matrixFromRows([[-1], [1]]), [-1, 1], { l2: 1 });
    expect(m.weights[0]).toBeCloseTo(0.5, 12);
    expect(m.intercepts[0]).toBeCloseTo(0, 12);
  });

  it('given collinear columns and no penalty, when fitted, then predictions are still exact', () => {
    const x = matrixFromRows([
      [1, 2],
      [2, 4],
      [3, 6],
    ]);
    const m = trainLinearRegression(x, [1, 2, 3]);
    const pred = (r: number[]) => m.intercepts[0] + m.weights[0] * r[0] + m.weights[1] * r[1];
    expect(pred([2, 4])).toBeCloseTo(2, 5);
  });
});

describe('trainLogisticRegression', () => {
  it('given symmetric data, when fitted, then the intercept is 0 and the weight positive', () => {
    const m = trainLogisticRegression(matrixFromRows([[-2], [-1], [1], [2], [-0.5], [0.5]]), [0, 0, 1, 1, 1, 0], {
      l2: 0.01,
    });
    expect(m.intercepts[0]).toBeCloseTo(0, 8);
    expect(m.weights[0]).toBeGreaterThan(0);
  });

  it('given a fit, when checking optimality, then the regularised gradient is ~0', () => {
    const { x, y } = syntheticBinary(500, 1);
    const l2 = 0.01;
    const m = trainLogisticRegression(x, y, { l2 });
    const d = x.nCols;
    const g = new Float64Array(d + 1);
    for (let i = 0; i < x.nRows; i++) {
      let s = m.intercepts[0];
      for (let j = 0; j < d; j++) s += m.weights[j] * x.data[i * d + j];
      const r = 1 / (1 + Math.exp(-s)) - y[i];
      for (let j = 0; j < d; j++) g[j] += r * x.data[i * d + j];
      g[d] += r;
    }
    for (let j = 0; j < d; j++) expect(Math.abs(g[j] / x.nRows + l2 * m.weights[j])).toBeLessThan(1e-6);
    expect(Math.abs(g[d] / x.nRows)).toBeLessThan(1e-6);
  });

  it('given three classes, when fitted, then it is multinomial with one row of weights per class', () => {
    const rows: number[][] = [];
    const y: number[] = [];
    for (let c = 0; c < 3; c++) {
      for (let i = 0; i < 20; i++) {
        rows.push([c * 3 + (i % 5) * 0.2, (i % 3) * 0.1]);
        y.push(c);
      }
    }
    const m = trainLogisticRegression(matrixFromRows(rows), y, { l2: 1e-3 });
    expect(m.task).toBe('multiclass');
    expect(m.nOutputs).toBe(3);
    expect(m.weights.length).toBe(6);
    // Class 2 lives at the largest x0, so its x0 weight is the largest.
    expect(m.weights[4]).toBeGreaterThan(m.weights[2]);
    expect(m.weights[2]).toBeGreaterThan(m.weights[0]);
  });

  it('given bad input, when fitting, then typed errors with codes are thrown', () => {
    const x = matrixFromRows([[1], [2], [3]]);
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(InvalidTrainingDataError);
        return (e as InvalidTrainingDataError).code;
      }
      return 'no error';
    };
    expect(code(() => trainLogisticRegression(x, [0, 1, NaN]))).toBe('non_finite_label');
    expect(code(() => trainLogisticRegression(x, [0, 1, Infinity]))).toBe('non_finite_label');
    expect(code(() => trainLogisticRegression(x, [1, 1, 1]))).toBe('single_class');
    expect(code(() => trainLogisticRegression(x, [0, 1]))).toBe('length_mismatch');
    expect(code(() => trainLogisticRegression({ data: new Float64Array(0), nRows: 0, nCols: 1 }, []))).toBe(
      'empty_data',
    );
    expect(code(() => trainLogisticRegression(matrixFromRows([[1], [NaN], [3]]), [0, 1, 0]))).toBe(
      'non_finite_feature',
    );
    expect(code(() => trainLogisticRegression(x, [0, 0.5, 1]))).toBe('invalid_label');
    expect(() => trainLogisticRegression(x, [0, 1, 0], { l2: -1 })).toThrow(InvalidParameterError);
  });
});
