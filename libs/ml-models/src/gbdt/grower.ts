import { histogramOffsets } from './binning';
import { CategoryScratch, findBestSplit, SplitInfo, type SplitParams } from './split';

/** A tree in bin space, as grown. Node 0 is the root; leaves have `feature === -1`. */
export interface GrownTree {
  feature: number[];
  bin: number[];
  catMask: (Uint32Array | null)[];
  missingLeft: boolean[];
  left: number[];
  right: number[];
  /** Leaf output (already multiplied by the learning rate); 0 for internal nodes. */
  value: number[];
  /** Split gain of internal nodes (for feature importance); 0 for leaves. */
  gain: number[];
}

/** Growth limits and regularisation for one tree. */
export interface GrowerParams extends SplitParams {
  maxLeaves: number;
  maxDepth: number;
  learningRate: number;
}

interface Leaf {
  node: number;
  start: number;
  end: number;
  g: number;
  h: number;
  depth: number;
  hist: number;
  split: SplitInfo;
}

/**
 * Leaf-wise (best-first) tree growth on uint8-binned rows, as in LightGBM. Buffers are allocated
 * once and reused for every tree: a pool of histograms, the row index partition and a scratch
 * array. Each split builds the histogram of the smaller child only; the larger child's is the
 * parent's minus it (histogram subtraction), computed in the parent's buffer.
 */
export class TreeGrower {
  private readonly hists: Float64Array[];
  private readonly freeHists: number[] = [];
  private readonly scratch: Uint32Array;
  private readonly catOrder = new CategoryScratch();
  private readonly offsets: Int32Array;
  /** Column-major copy of the bins: partitioning reads one feature for ascending rows. */
  private readonly binsByFeature: Uint8Array;
  private readonly goLeft = new Uint8Array(256);
  /** Gradient and hessian interleaved per row: one cache line serves both in histogram builds. */
  private readonly gh: Float64Array;
  /** Row-major histogram index of every cell: `offsets[f] + 2 * bin`. */
  private readonly slots: Uint16Array | Uint32Array;
  /** Row indices, partitioned so that each leaf owns a contiguous range. */
  readonly rows: Uint32Array;
  /** Leaves of the last grown tree: node index and row range in {@link rows}. */
  readonly leafRanges: { node: number; start: number; end: number }[] = [];

  constructor(
    private readonly bins: Uint8Array,
    private readonly nFeatures: number,
    nRows: number,
    private readonly nBins: Uint16Array,
    private readonly isCategorical: Uint8Array,
    private readonly p: GrowerParams,
  ) {
    const poolSize = Math.max(2, p.maxLeaves + 1);
    this.offsets = histogramOffsets(nBins);
    this.hists = Array.from({ length: poolSize }, () => new Float64Array(this.offsets[nFeatures]));
    this.rows = new Uint32Array(nRows);
    this.slots = this.offsets[nFeatures] < 65536 ? new Uint16Array(bins.length) : new Uint32Array(bins.length);
    for (let i = 0; i < bins.length; i++) this.slots[i] = this.offsets[i % nFeatures] + 2 * bins[i];
    this.binsByFeature = new Uint8Array(bins.length);
    for (let r = 0; r < nRows; r++)
      for (let f = 0; f < nFeatures; f++) this.binsByFeature[f * nRows + r] = bins[r * nFeatures + f];
    this.scratch = new Uint32Array(nRows);
    this.gh = new Float64Array(2 * nRows);
  }

  /** Grow one tree on the first `nUsed` entries of {@link rows} with the given gradients. */
  grow(nUsed: number, grad: Float64Array, hess: Float64Array, features: Int32Array): GrownTree {
    const p = this.p;
    const tree: GrownTree = {
      feature: [],
      bin: [],
      catMask: [],
      missingLeft: [],
      left: [],
      right: [],
      value: [],
      gain: [],
    };
    this.freeHists.length = 0;
    for (let i = this.hists.length - 1; i >= 0; i--) this.freeHists.push(i);
    let g = 0;
    let h = 0;
    const gh = this.gh;
    for (let i = 0; i < nUsed; i++) {
      const r = this.rows[i];
      g += grad[r];
      h += hess[r];
      gh[2 * r] = grad[r];
      gh[2 * r + 1] = hess[r];
    }
    const root = this.newLeaf(tree, 0, nUsed, g, h, 0);
    root.hist = this.freeHists.pop()!;
    this.buildHist(this.hists[root.hist], 0, nUsed, features);
    this.evaluate(root, features);
    const leaves: Leaf[] = [root];
    while (leaves.length < p.maxLeaves) {
      let best = -1;
      for (let i = 0; i < leaves.length; i++) {
        if (leaves[i].split.gain > 0 && (best < 0 || leaves[i].split.gain > leaves[best].split.gain)) best = i;
      }
      if (best < 0) break;
      const parent = leaves[best];
      // The children of the split that reaches maxLeaves are never split: skip their histograms.
      const [a, b] = this.split(tree, parent, features, leaves.length + 1 < p.maxLeaves);
      leaves[best] = a;
      leaves.push(b);
    }
    this.leafRanges.length = 0;
    for (const leaf of leaves) {
      tree.value[leaf.node] = (-leaf.g / (leaf.h + p.l2)) * p.learningRate;
      this.leafRanges.push({ node: leaf.node, start: leaf.start, end: leaf.end });
      if (leaf.hist >= 0) this.freeHists.push(leaf.hist);
    }
    return tree;
  }

  private newLeaf(tree: GrownTree, start: number, end: number, g: number, h: number, depth: number): Leaf {
    const node = tree.feature.length;
    tree.feature.push(-1);
    tree.bin.push(0);
    tree.catMask.push(null);
    tree.missingLeft.push(false);
    tree.left.push(-1);
    tree.right.push(-1);
    tree.value.push(0);
    tree.gain.push(0);
    return { node, start, end, g, h, depth, hist: -1, split: new SplitInfo() };
  }

  private evaluate(leaf: Leaf, features: Int32Array): void {
    const p = this.p;
    const n = leaf.end - leaf.start;
    if (leaf.depth >= p.maxDepth || n < 2 * p.minSamplesLeaf) {
      leaf.split.reset();
      return;
    }
    findBestSplit(
      this.hists[leaf.hist],
      this.offsets,
      features,
      this.nBins,
      this.isCategorical,
      leaf.g,
      leaf.h,
      n,
      p,
      leaf.split,
      this.catOrder,
    );
  }

  private split(tree: GrownTree, leaf: Leaf, features: Int32Array, more: boolean): [Leaf, Leaf] {
    const s = leaf.split;
    const f = s.feature;
    const rows = this.rows;
    const col = this.binsByFeature.subarray(f * rows.length, (f + 1) * rows.length);
    const scratch = this.scratch;
    // Stable partition: left rows stay in place, right rows go through the scratch buffer.
    let nl = leaf.start;
    let nr = 0;
    const mask = s.catMask;
    const thr = s.bin;
    const ml = s.missingLeft;
    const missing = this.nBins[f];
    // Branch-free: a per-split lookup table says which bins go left, and each row is written to
    // both outputs with only one cursor advancing (the split direction is unpredictable).
    const lut = this.goLeft;
    for (let b = 0; b < 256; b++)
      lut[b] = (b === missing ? ml : mask ? (mask[b >>> 5] >>> (b & 31)) & 1 : b <= thr) ? 1 : 0;
    for (let i = leaf.start; i < leaf.end; i++) {
      const r = rows[i];
      const l = lut[col[r]];
      rows[nl] = r;
      scratch[nr] = r;
      nl += l;
      nr += 1 - l;
    }
    rows.set(scratch.subarray(0, nr), nl);
    const node = leaf.node;
    tree.feature[node] = f;
    tree.bin[node] = thr;
    tree.catMask[node] = mask;
    tree.missingLeft[node] = ml;
    tree.gain[node] = s.gain;
    const a = this.newLeaf(tree, leaf.start, nl, s.gl, s.hl, leaf.depth + 1);
    const b = this.newLeaf(tree, nl, leaf.end, leaf.g - s.gl, leaf.h - s.hl, leaf.depth + 1);
    tree.left[node] = a.node;
    tree.right[node] = b.node;
    const canSplit = more && leaf.depth + 1 < this.p.maxDepth;
    if (canSplit) {
      const [small, large] = nl - leaf.start <= leaf.end - nl ? [a, b] : [b, a];
      small.hist = this.freeHists.pop()!;
      large.hist = leaf.hist;
      const sh = this.hists[small.hist];
      const lh = this.hists[large.hist];
      this.buildHist(sh, small.start, small.end, features);
      for (let fi = 0; fi < features.length; fi++) {
        const f2 = features[fi];
        for (let k = this.offsets[f2], end = this.offsets[f2 + 1]; k < end; k++) lh[k] -= sh[k];
      }
      this.evaluate(a, features);
      this.evaluate(b, features);
    } else {
      this.freeHists.push(leaf.hist);
    }
    leaf.hist = -1;
    return [a, b];
  }

  private buildHist(hist: Float64Array, start: number, end: number, features: Int32Array): void {
    const d = this.nFeatures;
    const bins = this.bins;
    const rows = this.rows;
    const nf = features.length;
    const off = this.offsets;
    const gh = this.gh;
    for (let fi = 0; fi < nf; fi++) hist.fill(0, off[features[fi]], off[features[fi] + 1]);
    if (nf === d) {
      // Hot loop: precomputed histogram slots save an offset load and an add per cell.
      const slots = this.slots;
      for (let i = start; i < end; i++) {
        const r = rows[i];
        const gv = gh[2 * r];
        const hv = gh[2 * r + 1];
        const o = r * d;
        for (let f = o, e = o + d; f < e; f++) {
          const k = slots[f];
          hist[k] += gv;
          hist[k + 1] += hv;
        }
      }
      return;
    }
    for (let i = start; i < end; i++) {
      const r = rows[i];
      const gv = gh[2 * r];
      const hv = gh[2 * r + 1];
      const o = r * d;
      for (let fi = 0; fi < nf; fi++) {
        const f = features[fi];
        const k = off[f] + bins[o + f] * 2;
        hist[k] += gv;
        hist[k + 1] += hv;
      }
    }
  }
}
