import {
  fitTransform,
  Predictor,
  TransformRunner,
  trainGbdt,
  trainLogisticRegression,
  createModelDocument,
} from '@keel/ml-models';
import { type BenchDataset, loadAdult, loadElec2, linearSpecs, treeSpecs } from './datasets';
import { f1Score, rocAuc } from './metrics';

/** One line per model: dataset, algorithm, train time, holdout AUC and F1, then any extra figures. */
function report(ds: BenchDataset, algorithm: string, ms: number, scores: ArrayLike<number>, ...extra: unknown[]): void {
  console.log(
    ds.name,
    algorithm,
    ms.toFixed(0),
    'ms',
    rocAuc(ds.yTest, scores).toFixed(4),
    f1Score(ds.yTest, scores).toFixed(4),
    ...extra,
  );
}

for (const ds of [loadAdult(), loadElec2()]) {
  const tt = fitTransform(ds.train, treeSpecs(ds));
  const tr = new TransformRunner(tt);
  const xtr = tr.table(ds.train);
  const xte = tr.table(ds.test);
  let t0 = performance.now();
  const { model, info } = trainGbdt(xtr, ds.yTrain, {
    objective: 'binary',
    categoricalFeatures: tt.categoricalFeatures,
    seed: 1,
  });
  const ms = performance.now() - t0;
  const p = new Predictor(createModelDocument({ model, preprocessing: tt }));
  const s = p.predictBatch(xte);
  report(ds, 'gbdt', ms, s, info.bestIteration, model.feature.length);
  const row = xte.data.subarray(0, xte.nCols);
  t0 = performance.now();
  let acc = 0;
  for (let i = 0; i < 100000; i++)
    acc += p.predictRow(xte.data.subarray((i % 1000) * xte.nCols, ((i % 1000) + 1) * xte.nCols));
  console.log('row us', ((performance.now() - t0) / 100000) * 1000, acc > 0, row.length);
  const lt = fitTransform(ds.train, linearSpecs(ds));
  const lr = new TransformRunner(lt);
  const lx = lr.table(ds.train);
  t0 = performance.now();
  const lm = trainLogisticRegression(lx, ds.yTrain, { l2: 1 / lx.nRows });
  const lms = performance.now() - t0;
  const lp = new Predictor(createModelDocument({ model: lm, preprocessing: lt }));
  const ls = lp.predictBatch(lr.table(ds.test));
  report(ds, 'logreg', lms, ls);
}
