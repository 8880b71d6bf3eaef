import { InvalidInputError } from '../core/errors';
import { type Matrix } from '../core/matrix';
import { type Task } from '../linear/linear-model';
import { type RawRecord, TransformRunner } from '../preprocess/transform';
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

/** Trees flattened into typed arrays; one tight loop per tree. */
class TreeKernel implements ScoreKernel {
  private readonly feature: Int32Array;
  private readonly threshold: Float64Array;
  private readonly missingLeft: Uint8Array;
  private readonly left: Int32Array;
  private readonly right: Int32Array;
  private readonly value: Float64Array;
  private readonly catOffset: Int32Array;
  private readonly catBits: Uint32Array;
  private readonly roots: Int32Array;
  private readonly outputs: Int32Array;
  private readonly base: Float64Array;

  constructor(m: Extract<ModelDocument['model'], { kind: 'gbdt' }>) {
    this.feature = Int32Array.from(m.feature);
    this.threshold = Float64Array.from(m.threshold);
    this.missingLeft = Uint8Array.from(m.missingLeft);
    this.left = Int32Array.from(m.left);
    this.right = Int32Array.from(m.right);
    this.value = Float64Array.from(m.value);
    this.catOffset = Int32Array.from(m.catOffset);
    this.catBits = Uint32Array.from(m.catBits);
    this.roots = Int32Array.from(m.treeRoots);
    this.outputs = Int32Array.from(m.treeOutputs);
    this.base = Float64Array.from(m.baseScores);
  }

  score(x: ArrayLike<number>, offset: number, out: Float64Array): void {
    const { feature, threshold, missingLeft, left, right, value, catOffset, catBits, roots, outputs } = this;
    out.set(this.base);
    const single = this.base.length === 1;
    let acc = 0;
    for (let t = 0; t < roots.length; t++) {
      let n = roots[t];
      let f = feature[n];
      while (f >= 0) {
        const v = x[offset + f];
        let goLeft: boolean;
        if (v !== v) goLeft = missingLeft[n] === 1;
        else {
          const co = catOffset[n];
          if (co < 0) goLeft = v <= threshold[n];
          // Codes outside 0..255 (or fractional) are in no category set, so they go right.
          else goLeft = v >= 0 && v < 256 && (v | 0) === v && ((catBits[co + (v >>> 5)] >>> (v & 31)) & 1) === 1;
        }
        n = goLeft ? left[n] : right[n];
        f = feature[n];
      }
      if (single) acc += value[n];
      else out[outputs[t]] += value[n];
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
    this.kernel = m.kind === 'linear' ? new LinearKernel(m.weights, m.intercepts, m.nFeatures) : new TreeKernel(m);
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
