import {
  createModelDocument,
  fitTransform,
  type Matrix,
  type ModelDocument,
  Predictor,
  TransformRunner,
  trainGbdt,
  trainLogisticRegression,
} from '@keel/ml-models';
import { type BenchDataset, linearSpecs, treeSpecs } from './datasets';
import { f1Score, rocAuc } from './metrics';
import { type BenchRecord } from './report';

/** Settings matching the peers: 100 rounds, lr 0.1, 31 leaves, 20 rows per leaf, 255 bins. */
export const GBDT_SETTINGS = {
  maxIterations: 100,
  learningRate: 0.1,
  maxLeaves: 31,
  minSamplesLeaf: 20,
  maxBins: 255,
  seed: 0,
};

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Fit preprocessing + model on the train split; returns the document and the trainer's own time. */
function fit(ds: BenchDataset, kind: 'logreg' | 'gbdt'): { doc: ModelDocument; trainerMs: number } {
  const pre = fitTransform(ds.train, kind === 'logreg' ? linearSpecs(ds) : treeSpecs(ds));
  const x = new TransformRunner(pre).table(ds.train);
  const t0 = performance.now();
  if (kind === 'logreg') {
    // scikit-learn's C = 1 is λ = 1 / n in our mean-loss parameterisation.
    const model = trainLogisticRegression(x, ds.yTrain, { l2: 1 / x.nRows });
    const trainerMs = performance.now() - t0;
    return { doc: createModelDocument({ model, preprocessing: pre, classes: ['0', '1'] }), trainerMs };
  }
  const { model } = trainGbdt(x, ds.yTrain, {
    objective: 'binary',
    categoricalFeatures: pre.categoricalFeatures,
    ...GBDT_SETTINGS,
  });
  const trainerMs = performance.now() - t0;
  return {
    doc: createModelDocument({ model, preprocessing: pre, classes: ['0', '1'], training: GBDT_SETTINGS }),
    trainerMs,
  };
}

/** Mean µs per call of `predictRow` over preprocessed test rows (cycled), after a warm-up. */
function singleRowMicros(p: Predictor, x: Matrix): number {
  const rows = Array.from({ length: Math.min(x.nRows, 1000) }, (_, i) =>
    x.data.subarray(i * x.nCols, (i + 1) * x.nCols),
  );
  let sink = 0;
  const pass = (n: number) => {
    for (let i = 0; i < n; i++) sink += p.predictRow(rows[i % rows.length]);
  };
  pass(50_000);
  const samples: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t0 = process.hrtime.bigint();
    pass(100_000);
    samples.push(Number(process.hrtime.bigint() - t0) / 1000 / 100_000);
  }
  if (sink === -1) console.log('');
  return median(samples);
}

/** Our two models. */
export const OUR_KINDS = ['logreg', 'gbdt'] as const;
export type OurKind = (typeof OUR_KINDS)[number];

/** Record name of one of our models. */
export const ourModelName = (kind: OurKind) => (kind === 'logreg' ? 'keel-logreg' : 'keel-gbdt');

/** Warm up the JIT on one dataset: compilation is not training time. */
export function warmUp(ds: BenchDataset): void {
  for (const kind of OUR_KINDS) fit(ds, kind);
}

/** One timed fit: total (preprocessing fit + apply + training) and the trainer alone, in ms. */
export function timeFit(ds: BenchDataset, kind: OurKind): { totalMs: number; trainerMs: number } {
  const t0 = performance.now();
  const f = fit(ds, kind);
  return { totalMs: performance.now() - t0, trainerMs: f.trainerMs };
}

/** Fit once more and measure quality and inference; `train_ms` is filled in by the caller. */
export function evaluateOurs(ds: BenchDataset, kind: OurKind): { record: BenchRecord; recordUs: number } {
  const { doc } = fit(ds, kind);
  const p = new Predictor(doc);
  const xTest = new TransformRunner(doc.preprocessing!).table(ds.test);
  p.predictBatch(xTest);
  const batchTimes: number[] = [];
  let scores: Float64Array = new Float64Array(0);
  for (let r = 0; r < 5; r++) {
    const t0 = performance.now();
    scores = p.predictBatch(xTest);
    batchTimes.push(((performance.now() - t0) * 1000) / xTest.nRows);
  }
  // Record path too (raw values → preprocessing → model), reported as a note.
  const raw = Array.from({ length: 1000 }, (_, i) =>
    Object.fromEntries(ds.columns.map((c) => [c.name, ds.test[c.name][i]])),
  );
  let sink = 0;
  for (let i = 0; i < 20_000; i++) sink += p.predictRecord(raw[i % 1000])[0];
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < 100_000; i++) sink += p.predictRecord(raw[i % 1000])[0];
  const recordUs = Number(process.hrtime.bigint() - t0) / 1000 / 100_000;
  if (sink === -1) console.log(''); // keeps the loop observable
  return {
    record: {
      model: ourModelName(kind),
      dataset: ds.name,
      auc: rocAuc(ds.yTest, scores),
      f1: f1Score(ds.yTest, scores),
      train_ms: NaN,
      infer_row_us: singleRowMicros(p, xTest),
      infer_batch_us_per_row: median(batchTimes),
    },
    recordUs,
  };
}

export { median };
