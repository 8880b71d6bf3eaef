import { InvalidParameterError, InvalidTrainingDataError } from '../core/errors';
import { checkSampleWeights, checkTrainingData, countClasses, type Labels, type Matrix } from '../core/matrix';
import { Rng } from '../core/random';
import { type BinMapper, binRows, F32_MAX, fitBinMapper, MAX_BINS } from './binning';
import { CAT_WORDS, type GbdtModelBody } from './gbdt-model';
import { type GrownTree, TreeGrower } from './grower';
import { binaryLogLoss, type Objective, softmaxLoss, squaredError } from './objectives';

/** Options for {@link trainGbdt}. Defaults follow LightGBM's where one exists. */
export interface GbdtOptions {
  objective: 'binary' | 'multiclass' | 'regression';
  /** Number of classes for `'multiclass'`; inferred from the labels when omitted. */
  nClasses?: number;
  /** Boosting rounds (upper bound when early stopping). Default 100. */
  maxIterations?: number;
  learningRate?: number;
  /** Leaves per tree (leaf-wise growth). Default 31. */
  maxLeaves?: number;
  /** Depth limit; unlimited when omitted. */
  maxDepth?: number;
  /**
   * Minimum rows in a leaf. Default 20. As in LightGBM, split search checks it on row counts
   * estimated from hessian sums (exact for squared error), so it can be slightly undershot.
   */
  minSamplesLeaf?: number;
  /** Minimum hessian sum in a leaf. Default 1e-3. */
  minHessianLeaf?: number;
  /** L2 regularisation of leaf values. Default 0. */
  l2?: number;
  /** Minimum gain to make a split. Default 0. */
  minGain?: number;
  /** Fraction of rows sampled (without replacement) for each tree. Default 1. */
  subsample?: number;
  /** Fraction of features sampled for each tree. Default 1. */
  colsample?: number;
  /** Bins per numeric feature, at most 255. Default 255. */
  maxBins?: number;
  /** Feature indices holding integer category codes (0..254). */
  categoricalFeatures?: readonly number[];
  catSmooth?: number;
  catL2?: number;
  maxCatThreshold?: number;
  /** Stop after this many rounds without validation improvement; 0 (default) disables. */
  earlyStoppingRounds?: number;
  /** Fraction of rows held out for early stopping when `validation` is not given. Default 0.1. */
  validationFraction?: number;
  /** Explicit validation data for early stopping. */
  validation?: { x: Matrix; y: Labels };
  seed?: number;
  /** Per-row weights of `x` (non-negative, not all zero): each row's gradient and hessian count this much. */
  sampleWeights?: ArrayLike<number>;
}

/** Training record kept beside the fitted model (no timestamps, so output stays reproducible). */
export interface GbdtTrainingInfo {
  iterations: number;
  bestIteration: number;
  validationLoss: number[];
  /** Total split gain per feature over the kept trees (feature importance). */
  featureGain: number[];
}

function check(name: string, v: number, ok: boolean): number {
  if (!ok || Number.isNaN(v)) throw new InvalidParameterError(name, `invalid value ${v}`);
  return v;
}

/** Resolve defaults and validate every option. */
function resolve(o: GbdtOptions) {
  const num = (name: keyof GbdtOptions, def: number, ok: (v: number) => boolean) => {
    const v = (o[name] as number | undefined) ?? def;
    return check(name, v, typeof v === 'number' && ok(v));
  };
  return {
    maxIterations: num('maxIterations', 100, (v) => Number.isInteger(v) && v >= 1),
    learningRate: num('learningRate', 0.1, (v) => v > 0 && v <= 10),
    maxLeaves: num('maxLeaves', 31, (v) => Number.isInteger(v) && v >= 2 && v <= 65536),
    maxDepth: num('maxDepth', Infinity, (v) => v >= 1),
    minSamplesLeaf: num('minSamplesLeaf', 20, (v) => Number.isInteger(v) && v >= 1),
    minHessianLeaf: num('minHessianLeaf', 1e-3, (v) => v >= 0),
    l2: num('l2', 0, (v) => v >= 0 && Number.isFinite(v)),
    minGain: num('minGain', 0, (v) => v >= 0 && Number.isFinite(v)),
    subsample: num('subsample', 1, (v) => v > 0 && v <= 1),
    colsample: num('colsample', 1, (v) => v > 0 && v <= 1),
    maxBins: num('maxBins', MAX_BINS, (v) => Number.isInteger(v) && v >= 2 && v <= MAX_BINS),
    catSmooth: num('catSmooth', 10, (v) => v >= 0),
    catL2: num('catL2', 10, (v) => v >= 0),
    maxCatThreshold: num('maxCatThreshold', 32, (v) => Number.isInteger(v) && v >= 1),
    earlyStoppingRounds: num('earlyStoppingRounds', 0, (v) => Number.isInteger(v) && v >= 0),
    validationFraction: num('validationFraction', 0.1, (v) => v > 0 && v < 1),
    seed: num('seed', 0, (v) => Number.isInteger(v)),
  };
}

/**
 * Histogram gradient boosting (leaf-wise trees on uint8-binned features) for binary log-loss,
 * multiclass softmax and squared error. NaN features are allowed and learn a default direction.
 * Deterministic for a given seed.
 */
export function trainGbdt(
  x: Matrix,
  y: Labels,
  options: GbdtOptions,
): { model: GbdtModelBody; info: GbdtTrainingInfo } {
  checkTrainingData(x, y, true);
  const p = resolve(options);
  const categorical = [...(options.categoricalFeatures ?? [])];
  for (const c of categorical) {
    if (!Number.isInteger(c) || c < 0 || c >= x.nCols)
      throw new InvalidParameterError('categoricalFeatures', `no feature ${c}`);
  }
  let objective: Objective;
  if (options.objective === 'binary') {
    if (countClasses(y) !== 2) throw new InvalidTrainingDataError('invalid_label', 'binary labels must be 0 or 1');
    objective = binaryLogLoss;
  } else if (options.objective === 'multiclass') {
    objective = softmaxLoss(countClasses(y, options.nClasses));
  } else if (options.objective === 'regression') {
    objective = squaredError;
  } else {
    throw new InvalidParameterError('objective', `unknown objective ${String(options.objective)}`);
  }
  const rng = new Rng(p.seed);
  const d = x.nCols;

  // Split off validation rows when early stopping without explicit validation data.
  let trainRows: Uint32Array;
  let valX: Matrix | null = null;
  let valRows: Uint32Array | null = null;
  let valY: Float64Array | null = null;
  if (p.earlyStoppingRounds > 0 && !options.validation) {
    const order = rng.fork().shuffle(Uint32Array.from({ length: x.nRows }, (_, i) => i));
    const nVal = Math.max(1, Math.floor(x.nRows * p.validationFraction));
    valRows = order.subarray(0, nVal).sort();
    trainRows = order.subarray(nVal).sort();
    valX = x;
    valY = Float64Array.from(valRows, (r) => y[r]);
  } else {
    trainRows = Uint32Array.from({ length: x.nRows }, (_, i) => i);
    if (options.validation && p.earlyStoppingRounds > 0) {
      checkTrainingData(options.validation.x, options.validation.y, true);
      if (options.validation.x.nCols !== d)
        throw new InvalidTrainingDataError('length_mismatch', 'validation has a different number of features');
      valX = options.validation.x;
      valRows = Uint32Array.from({ length: valX.nRows }, (_, i) => i);
      valY = Float64Array.from(options.validation.y);
    }
  }
  const n = trainRows.length;
  const yTrain = Float64Array.from(trainRows, (r) => y[r]);
  const sampleWeights = checkSampleWeights(options.sampleWeights, x.nRows);
  const wTrain = sampleWeights ? Float64Array.from(trainRows, (r) => sampleWeights[r]) : null;
  if (options.objective !== 'regression') countClasses(yTrain, objective.nOutputs === 1 ? 2 : objective.nOutputs);

  const mapper = fitBinMapper(x, trainRows, categorical, p.maxBins);
  const bins = binRows(mapper, x, trainRows);
  const valBins = valX && valRows ? binRows(mapper, valX, valRows) : null;
  const k = objective.nOutputs;
  const base = objective.baseScores(yTrain);
  const f = new Float64Array(n * k);
  for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) f[i * k + j] = base[j];
  const nVal = valY ? valY.length : 0;
  const fVal = new Float64Array(nVal * k);
  for (let i = 0; i < nVal; i++) for (let j = 0; j < k; j++) fVal[i * k + j] = base[j];

  const grad = new Float64Array(n);
  const hess = new Float64Array(n);
  const grower = new TreeGrower(bins, d, n, mapper.nBins, mapper.isCategorical, p);
  const nSample = Math.max(1, Math.round(p.subsample * n));
  const nCols = Math.max(1, Math.round(p.colsample * d));
  const trees: GrownTree[] = [];
  const treeOutputs: number[] = [];
  const validationLoss: number[] = [];
  let bestLoss = Infinity;
  let bestIter = 0;
  let iter = 0;
  const sampleRng = rng.fork();
  const colRng = rng.fork();
  for (; iter < p.maxIterations; iter++) {
    const sample = nSample < n ? sampleRng.sampleIndices(n, nSample) : null;
    const features =
      nCols < d ? Int32Array.from(colRng.sampleIndices(d, nCols)) : Int32Array.from({ length: d }, (_, i) => i);
    // Gradients of all classes come from the scores before this round's trees.
    const fRound = k > 1 ? Float64Array.from(f) : f;
    for (let c = 0; c < k; c++) {
      objective.gradients(fRound, yTrain, c, grad, hess);
      if (wTrain) {
        for (let i = 0; i < n; i++) {
          grad[i] *= wTrain[i];
          hess[i] *= wTrain[i];
        }
      }
      if (sample) grower.rows.set(sample);
      else for (let i = 0; i < n; i++) grower.rows[i] = i;
      const tree = grower.grow(sample ? nSample : n, grad, hess, features);
      trees.push(tree);
      treeOutputs.push(c);
      if (!sample) {
        for (const leaf of grower.leafRanges) {
          const v = tree.value[leaf.node];
          for (let i = leaf.start; i < leaf.end; i++) f[grower.rows[i] * k + c] += v;
        }
      } else {
        for (let i = 0; i < n; i++) f[i * k + c] += predictBinned(tree, bins, d, i, mapper.nBins);
      }
      for (let i = 0; i < nVal; i++) fVal[i * k + c] += predictBinned(tree, valBins!, d, i, mapper.nBins);
    }
    if (valY) {
      const loss = objective.loss(fVal, valY);
      validationLoss.push(loss);
      // Require a relative improvement so float noise does not extend training.
      if (loss < bestLoss - 1e-12 * Math.abs(loss)) {
        bestLoss = loss;
        bestIter = iter + 1;
      } else if (iter + 1 - bestIter >= p.earlyStoppingRounds) {
        iter++;
        break;
      }
    } else bestIter = iter + 1;
  }
  const kept = trees.slice(0, bestIter * k);
  const featureGain = new Array<number>(d).fill(0);
  for (const t of kept)
    for (let nd = 0; nd < t.feature.length; nd++) if (t.feature[nd] >= 0) featureGain[t.feature[nd]] += t.gain[nd];
  const model = flatten(kept, treeOutputs.slice(0, bestIter * k), mapper, options.objective, d, k, base);
  return { model, info: { iterations: iter, bestIteration: bestIter, validationLoss, featureGain } };
}

/** Leaf value reached by binned row `i`. */
function predictBinned(tree: GrownTree, bins: Uint8Array, d: number, i: number, nBins: Uint16Array): number {
  let node = 0;
  while (tree.feature[node] >= 0) {
    const f = tree.feature[node];
    const b = bins[i * d + f];
    const mask = tree.catMask[node];
    const goLeft =
      b === nBins[f] ? tree.missingLeft[node] : mask ? ((mask[b >>> 5] >>> (b & 31)) & 1) === 1 : b <= tree.bin[node];
    node = goLeft ? tree.left[node] : tree.right[node];
  }
  return tree.value[node];
}

/** Convert bin-space trees into the flat raw-threshold layout of {@link GbdtModelBody}. */
function flatten(
  trees: GrownTree[],
  treeOutputs: number[],
  mapper: BinMapper,
  objective: GbdtOptions['objective'],
  nFeatures: number,
  nOutputs: number,
  baseScores: number[],
): GbdtModelBody {
  const m: GbdtModelBody = {
    kind: 'gbdt',
    task: objective,
    nFeatures,
    nOutputs,
    baseScores,
    treeRoots: [],
    treeOutputs,
    feature: [],
    threshold: [],
    missingLeft: [],
    left: [],
    right: [],
    value: [],
    catOffset: [],
    catBits: [],
  };
  for (const t of trees) {
    const offset = m.feature.length;
    m.treeRoots.push(offset);
    for (let node = 0; node < t.feature.length; node++) {
      const f = t.feature[node];
      m.feature.push(f);
      m.missingLeft.push(t.missingLeft[node] ? 1 : 0);
      m.value.push(f < 0 ? t.value[node] : 0);
      m.left.push(f < 0 ? -1 : t.left[node] + offset);
      m.right.push(f < 0 ? -1 : t.right[node] + offset);
      const mask = t.catMask[node];
      if (f >= 0 && mask) {
        m.threshold.push(0);
        m.catOffset.push(m.catBits.length);
        for (let w = 0; w < CAT_WORDS; w++) m.catBits.push(mask[w] >>> 0);
      } else {
        const thr = mapper.thresholds[f];
        m.threshold.push(f < 0 ? 0 : t.bin[node] < thr.length ? thr[t.bin[node]] : F32_MAX);
        m.catOffset.push(-1);
      }
    }
  }
  return m;
}
