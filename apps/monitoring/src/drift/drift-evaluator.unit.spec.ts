import { CategoricalSummary, NumericSummary, Prng } from '@keel/ml-stats';
import { type FeatureReference } from '@keel/model-package';
import { describe, expect, it } from 'vitest';
import {
  addRows,
  emptySummaries,
  evaluateSummaries,
  evaluateWindow,
  OTHER_CATEGORY,
  poolRareCategories,
  summariesFromJson,
  summariesToJson,
} from './drift-evaluator';

/** Ages 17 … 90 drawn uniformly, and a sex column two-thirds "Male". */
function sample(rows: number, seed: number): { age: number; sex: string }[] {
  const prng = new Prng(seed);
  return Array.from({ length: rows }, () => ({
    age: 17 + prng.nextInt(74),
    sex: prng.next() < 2 / 3 ? 'Male' : 'Female',
  }));
}

function referenceOf(rows: { age: number; sex: string }[]): Record<string, FeatureReference> {
  return {
    age: {
      kind: 'numeric',
      summary: NumericSummary.fromReference(
        rows.map((row) => row.age),
        10,
      ).toJSON(),
    },
    sex: { kind: 'categorical', summary: new CategoricalSummary().addAll(rows.map((row) => row.sex)).toJSON() },
  };
}

describe('evaluateWindow', () => {
  it('given a reference with known bins, when the window repeats it exactly, then PSI is 0 and nothing drifts', () => {
    const reference: Record<string, FeatureReference> = {
      age: { kind: 'numeric', summary: new NumericSummary([30, 50]).addAll([20, 40, 60, 25, 45, 65]).toJSON() },
    };
    const result = evaluateWindow(reference, [{ age: 20 }, { age: 40 }, { age: 60 }], { psiThreshold: 0.2 });
    expect(result.drifted).toBe(false);
    expect(result.features).toHaveLength(1);
    expect(result.features[0]).toMatchObject({
      feature: 'age',
      kind: 'numeric',
      psi: 0,
      currentCount: 3,
      drifted: false,
    });
  });

  it('given known bins, when every value moves to the top bin, then PSI is large and age drifts', () => {
    const reference: Record<string, FeatureReference> = {
      age: { kind: 'numeric', summary: new NumericSummary([30, 50]).addAll([20, 40, 60, 25, 45, 65]).toJSON() },
    };
    const result = evaluateWindow(reference, [{ age: 70 }, { age: 80 }, { age: '90' }], { psiThreshold: 0.2 });
    expect(result.features[0].drifted).toBe(true);
    expect(result.features[0].psi).toBeGreaterThan(1);
    expect(result.drifted).toBe(true);
  });

  it('given a 5000-row reference with 10 bins, when a 200-row in-distribution window arrives, then PSI stays well under 0.2', () => {
    const reference = referenceOf(sample(5_000, 1));
    const result = evaluateWindow(reference, sample(200, 2), { psiThreshold: 0.2 });
    expect(result.drifted).toBe(false);
    for (const feature of result.features) expect(feature.psi).toBeLessThan(0.1);
    expect(result.features.find((feature) => feature.feature === 'age')?.pValue).toBeGreaterThan(0.01);
  });

  it('given the same reference, when the window has age + 30, then age drifts and sex does not', () => {
    const reference = referenceOf(sample(5_000, 1));
    const shifted = sample(200, 3).map((row) => ({ ...row, age: row.age + 30 }));
    const result = evaluateWindow(reference, shifted, { psiThreshold: 0.2 });
    const age = result.features.find((feature) => feature.feature === 'age');
    expect(age?.drifted).toBe(true);
    expect(age?.psi).toBeGreaterThan(1);
    expect(age?.pValue).toBeLessThan(1e-6);
    expect(result.features.find((feature) => feature.feature === 'sex')?.drifted).toBe(false);
    expect(result.drifted).toBe(true);
  });

  it('given a window with no value for a feature, when evaluated, then the feature is skipped rather than compared', () => {
    const reference = referenceOf(sample(100, 1));
    const window = [...Array.from({ length: 10 }, () => ({ age: null, sex: 'Male' })), { sex: '' }];
    const result = evaluateWindow(reference, window, { psiThreshold: 0.2 });
    expect(result.skipped).toEqual(['age']);
    expect(result.features.map((feature) => feature.feature)).toEqual(['sex']);
  });

  it('given a one-row window, when its categories are all rare in both, then the feature is skipped, not "no drift"', () => {
    const reference = referenceOf(sample(100, 1));
    const result = evaluateWindow(reference, [{ age: 40, sex: 'Male' }], { psiThreshold: 0.2 });
    expect(result.skipped).toEqual(['sex']);
  });
});

describe('poolRareCategories', () => {
  it('given a 200-row window, when categories are rare in both (under 2.5 % reference share, under 5 rows), then they share one bin', () => {
    const reference = new CategoricalSummary();
    reference.addCount('US', 900);
    reference.addCount('Mexico', 30);
    reference.addCount('Peru', 20);
    reference.addCount('Laos', 5);
    const current = new CategoricalSummary();
    current.addCount('US', 180);
    current.addCount('Peru', 15);
    current.addCount('Atlantis', 5);
    const pooled = poolRareCategories(reference, current)!;
    // Peru is rare by its reference share but not in the window, Atlantis is new with 5 rows: both keep their bins.
    expect([...pooled.reference.counts]).toEqual([
      ['US', 900],
      ['Mexico', 30],
      ['Peru', 20],
      [OTHER_CATEGORY, 5],
    ]);
    expect([...pooled.current.counts]).toEqual([
      ['US', 180],
      ['Peru', 15],
      ['Atlantis', 5],
    ]);
  });

  it('given 40 rare categories, when a 200-row in-distribution window arrives, then PSI stays well under 0.2', () => {
    const prng = new Prng(7);
    const draw = () => (prng.next() < 0.9 ? 'US' : `country-${prng.nextInt(40)}`);
    const reference: Record<string, FeatureReference> = {
      country: {
        kind: 'categorical',
        summary: new CategoricalSummary().addAll(Array.from({ length: 5_000 }, draw)).toJSON(),
      },
    };
    const window = Array.from({ length: 200 }, () => ({ country: draw() }));
    const result = evaluateWindow(reference, window, { psiThreshold: 0.2 });
    expect(result.features[0].psi).toBeLessThan(0.05);
    expect(result.drifted).toBe(false);
  });
});

describe('window summaries', () => {
  it('given rows merged event by event through JSON, when evaluated, then the report equals the one-shot evaluation', () => {
    // given a reference and a 200-row shifted window arriving as 40 events of 5 rows
    const reference = referenceOf(sample(5_000, 1));
    const window = sample(200, 3).map((row) => ({ ...row, age: row.age + 30 }));
    let json = summariesToJson(emptySummaries(reference));
    for (let start = 0; start < window.length; start += 5) {
      json = summariesToJson(addRows(summariesFromJson(json), window.slice(start, start + 5)));
    }
    // when the stored summaries are evaluated
    const merged = evaluateSummaries(reference, summariesFromJson(json), { psiThreshold: 0.2 });
    // then it matches evaluating the rows at once
    expect(merged).toEqual(evaluateWindow(reference, window, { psiThreshold: 0.2 }));
    expect(merged.features.find((feature) => feature.feature === 'age')).toMatchObject({
      currentCount: 200,
      drifted: true,
    });
  });

  it('given a reference feature with no summary, when evaluated, then it is skipped', () => {
    const reference = referenceOf(sample(100, 1));
    const summaries = addRows(emptySummaries(reference), [{ age: 30, sex: 'Male' }]);
    summaries.delete('sex');
    expect(evaluateSummaries(reference, summaries, { psiThreshold: 0.2 }).skipped).toEqual(['sex']);
  });
});
