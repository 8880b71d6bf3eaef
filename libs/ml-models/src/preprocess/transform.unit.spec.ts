import { describe, expect, it } from 'vitest';
import { InvalidTrainingDataError, UnknownCategoryError } from '../core/errors';
import { fitTransform, TransformRunner } from './transform';

const table = {
  age: [20, 30, null, 50],
  city: ['b', 'a', 'b', null],
};

describe('fitTransform', () => {
  it('given numeric and categorical columns, when fitted, then imputation, scaling and sorted codes are learned', () => {
    const t = fitTransform(table, [
      { name: 'age', kind: 'numeric', impute: 'mean', standardize: true },
      { name: 'city', kind: 'categorical' },
    ]);
    const age = t.columns[0];
    expect(age).toMatchObject({ kind: 'numeric', fill: 100 / 3, center: 100 / 3 });
    expect(t.columns[1]).toMatchObject({ categories: ['a', 'b'], encoding: 'code', unknown: 'error' });
    expect(t.features).toEqual(['age', 'city']);
    expect(t.categoricalFeatures).toEqual([1]);
  });

  it('given a fitted transform, when applied, then missing numerics are imputed and categories coded', () => {
    const t = fitTransform(table, [
      { name: 'age', kind: 'numeric', impute: 'median' },
      { name: 'city', kind: 'categorical', encoding: 'code' },
    ]);
    const m = new TransformRunner(t).table(table);
    expect(Array.from(m.data)).toEqual([20, 1, 30, 0, 30, 1, 50, NaN]);
  });

  it('given one-hot encoding, when applied, then each category gets its own column', () => {
    const t = fitTransform(table, [{ name: 'city', kind: 'categorical', encoding: 'onehot' }]);
    expect(t.features).toEqual(['city=a', 'city=b']);
    const m = new TransformRunner(t).records([{ city: 'a' }, { city: 'b' }, { city: null }]);
    expect(Array.from(m.data)).toEqual([1, 0, 0, 1, 0, 0]);
  });

  it("given policy 'error', when an unknown category arrives, then UnknownCategoryError names it", () => {
    const t = fitTransform(table, [{ name: 'city', kind: 'categorical', unknown: 'error' }]);
    const run = () => new TransformRunner(t).records([{ city: 'zurich' }]);
    expect(run).toThrow(UnknownCategoryError);
    expect(run).toThrow(/city.*zurich/);
  });

  it("given policy 'missing', when an unknown category arrives, then it becomes NaN", () => {
    const t = fitTransform(table, [{ name: 'city', kind: 'categorical', unknown: 'missing' }]);
    expect(Array.from(new TransformRunner(t).records([{ city: 'zurich' }]).data)).toEqual([NaN]);
  });

  it('given rows in another order, when fitted, then the result is identical', () => {
    const spec = [{ name: 'city', kind: 'categorical' as const }];
    const a = fitTransform({ city: ['x', 'y', 'z'] }, spec);
    const b = fitTransform({ city: ['z', 'x', 'y'] }, spec);
    expect(a).toEqual(b);
  });

  it('given a missing column or Infinity, when fitting, then InvalidTrainingDataError is thrown', () => {
    expect(() => fitTransform(table, [{ name: 'nope', kind: 'numeric' }])).toThrow(InvalidTrainingDataError);
    expect(() => fitTransform({ a: [1, Infinity] }, [{ name: 'a', kind: 'numeric' }])).toThrow(/Infinity/);
    expect(() => fitTransform({ a: ['1', 'abc'] }, [{ name: 'a', kind: 'numeric' }])).toThrow(/not a number/);
  });
});
