import { InvalidInputError } from '../core/errors';
import { type Matrix } from '../core/matrix';
import { type Task } from '../linear/linear-model';
import { type ColumnTable, type RawRecord, TransformRunner } from '../preprocess/transform';
import { type ModelDocument, parseModel, validateModel } from './document';

/** Scores of one row → task output, in place. */
function link(task: Task, scores: Float64Array, out: Float64Array | Float32Array, offset: number): void {
  if (task === 'binary') out[offset] = 1 / (1 + Math.exp(-scores[0]));
  else if (task === 'regression') out[offset] = scores[0];
  else {
    let max = -Infinity;
    for (let j = 0; j < scores.length; j++) if (scores[j] > max) max = scores[j];
    let sum = 0;
    for (let j = 0; j < scores.length; j++) sum += Math.exp(scores[j] - max);
    for (let j = 0; j < scores.length; j++) out[offset + j] = Math.exp(scores[j] - max) / sum;
  }
}

/** Raw-score kernel of one model family over one row. */
interface ScoreKernel {
  score(x: ArrayLike<number>, offset: number, out: Float64Array): void;
}

class LinearKernel implements ScoreKernel {
  private readonly w: Float64Array;
  private readonly b: Float64Array;
  constructor(
    weights: number[],
    intercepts: number[],
    private readonly d: number,
  ) {
    this.w = Float64Array.from(weights);
    this.b = Float64Array.from(intercepts);
  }
  score(x: ArrayLike<number>, offset: number, out: Float64Array): void {
    const { w, b, d } = this;
    for (let o = 0; o < b.length; o++) {
      let s = b[o];
      const base = o * d;
      for (let j = 0; j < d; j++) s += w[base + j] * x[offset + j];
      out[o] = s;
    }
  }
}

/**
 * Trees compiled for cache-friendly evaluation: nodes renumbered breadth-first so that each
 * node's children are adjacent (right = left + 1), and each node packed into one 32-bit word,
 * `left << 10 | feature << 2 | categorical << 1 | missingLeft` (feature 255 marks a leaf), plus
 * a float32 threshold (exact: thresholds are float32 values) or category bit-set offset. Leaf
 * values stay float64 in their own array, read once per tree. Eight bytes per node keep a
 * 100-tree model mostly in L1/L2 cache.
 */
class PackedTreeKernel implements ScoreKernel {
  private readonly word: Int32Array;
  private readonly threshold: Float32Array;
  private readonly leafValue: Float64Array;
  private readonly catBits: Uint32Array;
  private readonly roots: Int32Array;
  private readonly outputs: Int32Array;
  private readonly base: Float64Array;

  /** Whether a model fits the packed layout (features < 255, nodes < 2^21, float32 thresholds). */
  static fits(m: Extract<ModelDocument['model'], { kind: 'gbdt' }>): boolean {
    if (m.nFeatures >= 255 || m.feature.length >= 1 << 21 || m.catBits.length >= 1 << 24) return false;
    return m.threshold.every((t) => Math.fround(t) === t);
  }

  constructor(m: Extract<ModelDocument['model'], { kind: 'gbdt' }>) {
    const n = m.feature.length;
    this.word = new Int32Array(n);
    this.threshold = new Float32Array(n);
    this.leafValue = new Float64Array(n);
    this.catBits = Uint32Array.from(m.catBits);
    this.roots = new Int32Array(m.treeRoots.length);
    this.outputs = Int32Array.from(m.treeOutputs);
    this.base = Float64Array.from(m.baseScores);
    let next = 0;
    const queue: number[] = [];
    for (let t = 0; t < m.treeRoots.length; t++) {
      // Breadth-first renumbering; `queue` holds old ids, new ids are assigned in push order.
      queue.length = 0;
      queue.push(m.treeRoots[t]);
      this.roots[t] = next;
      let id = next++;
      for (let q = 0; q < queue.length; q++, id++) {
        const old = queue[q];
        const f = m.feature[old];
        if (f < 0) {
          this.word[id] = 255 << 2;
          this.leafValue[id] = m.value[old];
          continue;
        }
        const left = next;
        next += 2;
        queue.push(m.left[old], m.right[old]);
        const cat = m.catOffset[old] >= 0;
        this.word[id] = (left << 10) | (f << 2) | (cat ? 2 : 0) | (m.missingLeft[old] ? 1 : 0);
        this.threshold[id] = cat ? m.catOffset[old] : m.threshold[old];
      }
    }
  }

  score(x: ArrayLike<number>, offset: number, out: Float64Array): void {
    const { word, threshold, catBits, roots, outputs, leafValue } = this;
    out.set(this.base);
    const single = this.base.length === 1;
    let acc = 0;
    for (let t = 0; t < roots.length; t++) {
      let n = roots[t];
      let w = word[n];
      let f = (w >>> 2) & 255;
      while (f !== 255) {
        const v = x[offset + f];
        let right: number;
        if (v !== v) right = (w & 1) ^ 1;
        else if ((w & 2) === 0) right = v <= threshold[n] ? 0 : 1;
        else {
          // Codes outside 0..255 (or fractional) are in no category set, so they go right.
          const c = v | 0;
          right = c === v && c >>> 8 === 0 ? ((catBits[threshold[n] + (c >>> 5)] >>> (c & 31)) & 1) ^ 1 : 1;
        }
        n = (w >>> 10) + right;
        w = word[n];
        f = (w >>> 2) & 255;
      }
      if (single) acc += leafValue[n];
      else out[outputs[t]] += leafValue[n];
    }
    if (single) out[0] += acc;
  }
}

/**
 * Fallback for models outside the packed layout (≥ 255 features, huge ensembles, or
 * thresholds that are not float32 values): nodes renumbered breadth-first so that each
 * node's children are adjacent (right = left + 1), and every node packed into two parallel
 * arrays. `info[2n]` is the feature (-1 for a leaf); `info[2n + 1]` is
 * `left << 2 | categorical << 1 | missingLeft`. `num[n]` is the threshold, the category bit-set
 * offset for categorical nodes, or the leaf value. A visit touches two cache lines at most.
 */
class WideTreeKernel implements ScoreKernel {
  private readonly info: Int32Array;
  private readonly num: Float64Array;
  private readonly catBits: Uint32Array;
  private readonly roots: Int32Array;
  private readonly outputs: Int32Array;
  private readonly base: Float64Array;

  constructor(m: Extract<ModelDocument['model'], { kind: 'gbdt' }>) {
    const n = m.feature.length;
    this.info = new Int32Array(2 * n);
    this.num = new Float64Array(n);
    this.catBits = Uint32Array.from(m.catBits);
    this.roots = new Int32Array(m.treeRoots.length);
    this.outputs = Int32Array.from(m.treeOutputs);
    this.base = Float64Array.from(m.baseScores);
    let next = 0;
    const queue: number[] = [];
    for (let t = 0; t < m.treeRoots.length; t++) {
      // Breadth-first renumbering; `queue` holds old ids, new ids are assigned in push order.
      queue.length = 0;
      queue.push(m.treeRoots[t]);
      this.roots[t] = next;
      let id = next++;
      for (let q = 0; q < queue.length; q++, id++) {
        const old = queue[q];
        const f = m.feature[old];
        this.info[2 * id] = f;
        if (f < 0) {
          this.num[id] = m.value[old];
          continue;
        }
        const left = next;
        next += 2;
        queue.push(m.left[old], m.right[old]);
        const cat = m.catOffset[old] >= 0;
        this.info[2 * id + 1] = (left << 2) | (cat ? 2 : 0) | (m.missingLeft[old] ? 1 : 0);
        this.num[id] = cat ? m.catOffset[old] : m.threshold[old];
      }
    }
  }

  score(x: ArrayLike<number>, offset: number, out: Float64Array): void {
    const { info, num, catBits, roots, outputs } = this;
    out.set(this.base);
    const single = this.base.length === 1;
    let acc = 0;
    for (let t = 0; t < roots.length; t++) {
      let n = roots[t];
      let f = info[2 * n];
      while (f >= 0) {
        const meta = info[2 * n + 1];
        const v = x[offset + f];
        let right: number;
        if (v !== v) right = (meta & 1) ^ 1;
        else if ((meta & 2) === 0) right = v <= num[n] ? 0 : 1;
        else {
          // Codes outside 0..255 (or fractional) are in no category set, so they go right.
          const c = v | 0;
          right = c === v && c >>> 8 === 0 ? ((catBits[num[n] + (c >>> 5)] >>> (c & 31)) & 1) ^ 1 : 1;
        }
        n = (meta >>> 2) + right;
        f = info[2 * n];
      }
      if (single) acc += num[n];
      else out[outputs[t]] += num[n];
    }
    if (single) out[0] += acc;
  }
}

/**
 * Fast evaluator compiled from a {@link ModelDocument}. Outputs per row: P(positive class) for
 * binary models, class probabilities for multiclass, the prediction for regression.
 */
export class Predictor {
  /** Values per row in batch outputs: 1, or the number of classes for multiclass. */
  readonly width: number;
  readonly nFeatures: number;
  readonly task: Task;
  private readonly kernel: ScoreKernel;
  private readonly scores: Float64Array;
  private readonly out: Float64Array;
  private readonly transform: TransformRunner | null;
  private readonly rowBuffer: Float64Array;

  constructor(readonly document: ModelDocument) {
    validateModel(document);
    const m = document.model;
    this.task = m.task;
    this.nFeatures = m.nFeatures;
    this.width = m.task === 'multiclass' ? m.nOutputs : 1;
    this.kernel =
      m.kind === 'linear'
        ? new LinearKernel(m.weights, m.intercepts, m.nFeatures)
        : PackedTreeKernel.fits(m)
          ? new PackedTreeKernel(m)
          : new WideTreeKernel(m);
    this.scores = new Float64Array(m.nOutputs);
    this.out = new Float64Array(this.width);
    this.transform = document.preprocessing ? new TransformRunner(document.preprocessing) : null;
    this.rowBuffer = new Float64Array(m.nFeatures);
  }

  /** Compile a serialised document. */
  static fromJson(json: string): Predictor {
    return new Predictor(parseModel(json));
  }

  /** Raw scores (logits / margins) of one preprocessed row; the returned buffer is reused. */
  rawScores(features: ArrayLike<number>): Float64Array {
    this.checkRow(features);
    this.kernel.score(features, 0, this.scores);
    return this.scores;
  }

  /**
   * One preprocessed row → a number: P(positive) for binary, the prediction for regression,
   * the most probable class index for multiclass (use {@link predictProbaRow} for all classes).
   */
  predictRow(features: ArrayLike<number>): number {
    this.checkRow(features);
    this.kernel.score(features, 0, this.scores);
    if (this.task === 'multiclass') {
      let best = 0;
      for (let j = 1; j < this.scores.length; j++) if (this.scores[j] > this.scores[best]) best = j;
      return best;
    }
    link(this.task, this.scores, this.out, 0);
    return this.out[0];
  }

  /** One preprocessed row → all outputs (`width` values); the returned buffer is reused. */
  predictProbaRow(features: ArrayLike<number>): Float64Array {
    this.checkRow(features);
    this.kernel.score(features, 0, this.scores);
    link(this.task, this.scores, this.out, 0);
    return this.out;
  }

  /** A preprocessed row-major matrix → `nRows × width` outputs. */
  predictBatch(x: Matrix, out = new Float64Array(x.nRows * this.width)): Float64Array {
    if (x.nCols !== this.nFeatures)
      throw new InvalidInputError(`matrix has ${x.nCols} columns, model expects ${this.nFeatures}`);
    if (out.length < x.nRows * this.width) throw new InvalidInputError('output buffer is too small');
    for (let i = 0; i < x.nRows; i++) {
      this.kernel.score(x.data, i * x.nCols, this.scores);
      link(this.task, this.scores, out, i * this.width);
    }
    return out;
  }

  /** Raw records → outputs, applying the document's preprocessing first. */
  predictRecords(records: readonly RawRecord[]): Float64Array {
    return this.predictBatch(this.requireTransform().records(records));
  }

  /** Raw columns (every preprocessed column, all the same length) → outputs, without per-row objects. */
  predictTable(table: ColumnTable): Float64Array {
    return this.predictBatch(this.requireTransform().table(table));
  }

  /** One raw record → all outputs (`width` values); the returned buffer is reused. */
  predictRecord(record: RawRecord): Float64Array {
    this.requireTransform().writeRecord(record, this.rowBuffer);
    return this.predictProbaRow(this.rowBuffer);
  }

  private requireTransform(): TransformRunner {
    if (!this.transform) throw new InvalidInputError('this model has no preprocessing; pass feature vectors instead');
    return this.transform;
  }

  private checkRow(features: ArrayLike<number>): void {
    if (features.length !== this.nFeatures) {
      throw new InvalidInputError(`row has ${features.length} values, model expects ${this.nFeatures}`);
    }
  }
}
