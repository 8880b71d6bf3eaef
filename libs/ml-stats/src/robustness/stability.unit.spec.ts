import { describe, expect, it } from 'vitest';
import { Prng } from '../random/prng';
import { predictionStability, type Row } from './stability';

const rng = new Prng(5);
const rows: Row[] = Array.from({ length: 500 }, () => ({
  age: 20 + 40 * rng.next(),
  income: 1000 * rng.normal(),
  city: ['a', 'b', 'c'][rng.nextInt(3)],
}));
const options = { numericFeatures: ['age', 'income'], categoricalFeatures: ['city'], seed: 42 };

describe('predictionStability', () => {
  it('a model that ignores its input is perfectly stable', async () => {
    const report = await predictionStability(rows, (rs) => rs.map(() => 0.7), options);
    expect(report.score).toBe(1);
    expect(report.perturbations.map((p) => p.meanAbsScoreChange)).toEqual([0, 0, 0]);
  });
  it('a model keyed on the category is less stable under swaps; same seed → same report', async () => {
    const predict = (rs: Row[]): number[] => rs.map((r) => (r.city === 'a' ? 0.9 : 0.1));
    const a = await predictionStability(rows, predict, options);
    const b = await predictionStability(rows, predict, options);
    expect(a).toEqual(b);
    const swap = a.perturbations.find((p) => p.perturbation === 'category-swap')!;
    expect(swap.decisionAgreement).toBeLessThan(0.97);
    expect(swap.decisionAgreement).toBeGreaterThan(0.85);
    expect(a.score).toBe(Math.min(...a.perturbations.map((p) => p.decisionAgreement)));
    expect(a.perturbations[0].decisionAgreement).toBe(1);
  });
  it('noise scaled by feature std: a threshold model near its boundary flips only a few rows', async () => {
    const predict = (rs: Row[]): number[] => rs.map((r) => (typeof r.age === 'number' && r.age > 40 ? 1 : 0));
    const report = await predictionStability(rows, predict, { ...options, noiseScale: 0.05 });
    const noise = report.perturbations[0];
    expect(noise.decisionAgreement).toBeGreaterThan(0.9);
    expect(noise.decisionAgreement).toBeLessThan(1);
  });
  it('rejects bad predictions and options', async () => {
    await expect(predictionStability(rows, () => [1], options)).rejects.toThrow(/returned 1 scores/);
    await expect(predictionStability(rows, (rs) => rs.map(() => NaN), options)).rejects.toThrow(/NaN/);
    await expect(predictionStability([], () => [], options)).rejects.toThrow(/empty/);
    await expect(predictionStability(rows, (rs) => rs.map(() => 0), { ...options, swapRate: 2 })).rejects.toThrow(
      /swapRate/,
    );
  });
});
