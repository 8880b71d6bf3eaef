import { StatsInputError } from '../errors';
import { Prng } from '../random/prng';

/** A feature value: number, category string, or null for missing. */
export type FeatureValue = number | string | null;
/** One input row, feature name → value. */
export type Row = Readonly<Record<string, FeatureValue>>;
/** The model under test: scores for a batch of rows (sync or async). */
export type Predict = (rows: Row[]) => ArrayLike<number> | Promise<ArrayLike<number>>;

/** Which perturbations to run and how hard. */
export interface RobustnessOptions {
  readonly numericFeatures: readonly string[];
  readonly categoricalFeatures: readonly string[];
  /** Gaussian noise sd as a multiple of each numeric feature's std in `rows`; default 0.1. */
  readonly noiseScale?: number;
  /** Probability each categorical value is swapped for another observed category; default 0.1. */
  readonly swapRate?: number;
  /** Probability each feature value is replaced by null; default 0.05. */
  readonly missingRate?: number;
  /** Scores ≥ threshold are the positive decision; default 0.5. */
  readonly threshold?: number;
  /** Seed of the perturbation PRNG; default 1. */
  readonly seed?: number;
}

/** Effect of one perturbation kind. */
export interface PerturbationResult {
  readonly perturbation: 'gaussian-noise' | 'category-swap' | 'missing-values';
  /** Share of rows whose decision (score ≥ threshold) is unchanged: the stability score in [0, 1]. */
  readonly decisionAgreement: number;
  readonly meanAbsScoreChange: number;
  readonly maxAbsScoreChange: number;
}

/** Prediction stability report; `score` is the worst perturbation's agreement, in [0, 1], 1 = fully stable. */
export interface RobustnessReport {
  readonly score: number;
  readonly perturbations: PerturbationResult[];
}

function featureStd(rows: readonly Row[], feature: string): number {
  let n = 0;
  let mean = 0;
  let m2 = 0;
  for (const row of rows) {
    const v = row[feature];
    if (typeof v !== 'number') continue;
    if (!Number.isFinite(v)) throw new StatsInputError('non-finite', `feature ${feature} has value ${v}`);
    n++;
    const d = v - mean;
    mean += d / n;
    m2 += d * (v - mean);
  }
  return n > 1 ? Math.sqrt(m2 / n) : 0;
}

function categories(rows: readonly Row[], feature: string): string[] {
  const set = new Set<string>();
  for (const row of rows) {
    const v = row[feature];
    if (typeof v === 'string') set.add(v);
  }
  return [...set].sort();
}

async function scoresOf(predict: Predict, rows: Row[]): Promise<ArrayLike<number>> {
  const scores = await predict(rows);
  if (scores.length !== rows.length) {
    throw new StatsInputError('length-mismatch', `predict returned ${scores.length} scores for ${rows.length} rows`);
  }
  for (let i = 0; i < scores.length; i++) {
    if (!Number.isFinite(scores[i]))
      throw new StatsInputError('non-finite', `predict returned ${scores[i]} for row ${i}`);
  }
  return scores;
}

function compare(
  kind: PerturbationResult['perturbation'],
  base: ArrayLike<number>,
  perturbed: ArrayLike<number>,
  threshold: number,
): PerturbationResult {
  let agree = 0;
  let sum = 0;
  let max = 0;
  for (let i = 0; i < base.length; i++) {
    if (base[i] >= threshold === perturbed[i] >= threshold) agree++;
    const d = Math.abs(base[i] - perturbed[i]);
    sum += d;
    if (d > max) max = d;
  }
  return {
    perturbation: kind,
    decisionAgreement: agree / base.length,
    meanAbsScoreChange: sum / base.length,
    maxAbsScoreChange: max,
  };
}

/**
 * Prediction stability under three perturbations of `rows` (Gaussian noise scaled by each numeric feature's std,
 * category swaps, injected missing values), each scored as the share of unchanged decisions. Seeded, so the same
 * inputs and seed always give the same report; a gate can require e.g. `score ≥ 0.95`.
 */
export async function predictionStability(
  rows: readonly Row[],
  predict: Predict,
  options: RobustnessOptions,
): Promise<RobustnessReport> {
  if (rows.length === 0) throw new StatsInputError('empty', 'rows is empty');
  const noiseScale = options.noiseScale ?? 0.1;
  const swapRate = options.swapRate ?? 0.1;
  const missingRate = options.missingRate ?? 0.05;
  const threshold = options.threshold ?? 0.5;
  for (const [name, v] of [
    ['noiseScale', noiseScale],
    ['swapRate', swapRate],
    ['missingRate', missingRate],
  ] as const) {
    if (!(v >= 0) || !Number.isFinite(v) || (name !== 'noiseScale' && v > 1)) {
      throw new StatsInputError(
        'out-of-range',
        `${name} must be ≥ 0${name === 'noiseScale' ? '' : ' and ≤ 1'}, got ${v}`,
      );
    }
  }
  const rng = new Prng(options.seed ?? 1);
  const base = await scoresOf(
    predict,
    rows.map((r) => ({ ...r })),
  );
  const stds = new Map(options.numericFeatures.map((f) => [f, featureStd(rows, f)]));
  const cats = new Map(options.categoricalFeatures.map((f) => [f, categories(rows, f)]));

  const noisy = rows.map((row) => {
    const out: Record<string, FeatureValue> = { ...row };
    for (const [f, sd] of stds) {
      const v = row[f];
      if (typeof v === 'number') out[f] = v + noiseScale * sd * rng.normal();
    }
    return out;
  });
  const swapped = rows.map((row) => {
    const out: Record<string, FeatureValue> = { ...row };
    for (const [f, values] of cats) {
      const v = row[f];
      if (typeof v === 'string' && values.length > 1 && rng.next() < swapRate) {
        // Draw among the other categories so every swap really changes the value.
        const k = rng.nextInt(values.length - 1);
        const idx = values.indexOf(v);
        out[f] = values[k >= idx ? k + 1 : k];
      }
    }
    return out;
  });
  const features = [...options.numericFeatures, ...options.categoricalFeatures];
  const holed = rows.map((row) => {
    const out: Record<string, FeatureValue> = { ...row };
    for (const f of features) if (rng.next() < missingRate) out[f] = null;
    return out;
  });

  const perturbations = [
    compare('gaussian-noise', base, await scoresOf(predict, noisy), threshold),
    compare('category-swap', base, await scoresOf(predict, swapped), threshold),
    compare('missing-values', base, await scoresOf(predict, holed), threshold),
  ];
  return { score: Math.min(...perturbations.map((p) => p.decisionAgreement)), perturbations };
}
