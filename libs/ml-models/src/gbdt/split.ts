/** Parameters that decide whether and where a leaf splits. */
export interface SplitParams {
  minSamplesLeaf: number;
  minHessianLeaf: number;
  l2: number;
  minGain: number;
  /** Added to the hessian when ordering categories, so rare categories do not dominate. */
  catSmooth: number;
  /** Extra L2 in categorical split gains (they fit more freely than thresholds). */
  catL2: number;
  /** Largest category set tried on either side of a categorical split. */
  maxCatThreshold: number;
}

/** Reusable buffers for ordering a feature's categories. */
export class CategoryScratch {
  readonly bins = new Int32Array(256);
  readonly ratio = new Float64Array(256);
}

/** Best split of one leaf; `gain <= 0` means none. */
export class SplitInfo {
  gain = 0;
  feature = -1;
  /** Numeric: bins `<= bin` go left. */
  bin = 0;
  /** Categorical: bins (codes) whose bit is set go left; null for numeric splits. */
  catMask: Uint32Array | null = null;
  missingLeft = false;
  gl = 0;
  hl = 0;
  cl = 0;

  reset(): void {
    this.gain = 0;
    this.feature = -1;
    this.catMask = null;
  }
}

/**
 * Scan the histogram of one leaf for the best split over `features`. Histogram layout: feature f,
 * bin b at `offsets[f] + 2b` as [grad, hess]; bin `nBins[f]` is missing values, which are
 * tried on both sides, so NaN gets a learned default direction; when the leaf has none, the
 * default is the larger child. Histograms hold no counts: as in LightGBM, a side's row count is
 * estimated as its hessian times the leaf's rows-per-hessian (exact for squared error), which
 * saves a third of the memory traffic when building them.
 */
export function findBestSplit(
  hist: Float64Array,
  offsets: Int32Array,
  features: Int32Array,
  nBins: Uint16Array,
  isCategorical: Uint8Array,
  g: number,
  h: number,
  c: number,
  p: SplitParams,
  out: SplitInfo,
  catOrder: CategoryScratch,
): void {
  out.reset();
  const lambda = p.l2;
  const parent = (g * g) / (h + lambda);
  // Rows per unit of hessian in this leaf, to estimate counts from hessian sums.
  const cph = c / h;
  const minC = p.minSamplesLeaf;
  const minH = p.minHessianLeaf;
  for (let fi = 0; fi < features.length; fi++) {
    const f = features[fi];
    const base = offsets[f];
    const nb = nBins[f];
    const mo = base + nb * 2;
    const gm = hist[mo];
    const hm = hist[mo + 1];
    const cm = hm > 0 ? Math.max(1, hm * cph) : 0;
    if (isCategorical[f]) {
      findCategorical(hist, base, nb, g, h, c, cph, gm, hm, cm, f, p, out, catOrder);
      continue;
    }
    let gl = 0;
    let hl = 0;
    let cl = 0;
    // With missing values present, also try "all non-missing left, missing right" (b = nb - 1).
    const last = cm > 0 ? nb - 1 : nb - 2;
    for (let b = 0; b <= last; b++) {
      const o = base + b * 2;
      const hb = hist[o + 1];
      if (hb === 0 && b < last) continue;
      gl += hist[o];
      hl += hb;
      cl = hl * cph;
      // Missing right.
      let gr = g - gl;
      let hr = h - hl;
      let cr = c - cl;
      if (cl >= minC && cr >= minC && hl >= minH && hr >= minH) {
        const gain = (gl * gl) / (hl + lambda) + (gr * gr) / (hr + lambda) - parent;
        if (gain > out.gain) {
          out.gain = gain;
          out.feature = f;
          out.bin = b;
          out.catMask = null;
          // No missing in this leaf: send future NaNs to the larger child.
          out.missingLeft = cm === 0 && cl >= cr;
          out.gl = gl;
          out.hl = hl;
          out.cl = cl;
        }
      }
      if (cm === 0 || b === nb - 1) continue;
      // Missing left.
      const gl2 = gl + gm;
      const hl2 = hl + hm;
      const cl2 = cl + cm;
      gr = g - gl2;
      hr = h - hl2;
      cr = c - cl2;
      if (cl2 >= minC && cr >= minC && hl2 >= minH && hr >= minH) {
        const gain = (gl2 * gl2) / (hl2 + lambda) + (gr * gr) / (hr + lambda) - parent;
        if (gain > out.gain) {
          out.gain = gain;
          out.feature = f;
          out.bin = b;
          out.catMask = null;
          out.missingLeft = true;
          out.gl = gl2;
          out.hl = hl2;
          out.cl = cl2;
        }
      }
    }
  }
  if (out.gain <= p.minGain) out.reset();
}

function findCategorical(
  hist: Float64Array,
  base: number,
  nb: number,
  g: number,
  h: number,
  c: number,
  cph: number,
  gm: number,
  hm: number,
  cm: number,
  f: number,
  p: SplitParams,
  out: SplitInfo,
  scratch: CategoryScratch,
): void {
  const order = scratch.bins;
  const ratio = scratch.ratio;
  let k = 0;
  // Insertion sort by ratio (few categories), ties by code, so the order is fully determined.
  for (let b = 0; b < nb; b++) {
    const o = base + b * 2;
    if (!(hist[o + 1] > 0)) continue;
    const r = hist[o] / (hist[o + 1] + p.catSmooth);
    let j = k++;
    while (j > 0 && ratio[j - 1] > r) {
      ratio[j] = ratio[j - 1];
      order[j] = order[j - 1];
      j--;
    }
    ratio[j] = r;
    order[j] = b;
  }
  if (k < 2 && cm === 0) return;
  const lambda = p.l2 + p.catL2;
  const parent = (g * g) / (h + lambda);
  const maxSet = Math.min(p.maxCatThreshold, k);
  // Prefix sets from either end of the ratio order: the optimal set for a convex loss is a prefix.
  for (let dir = 0; dir < 2; dir++) {
    let gl = 0;
    let hl = 0;
    let cl = 0;
    for (let i = 0; i < maxSet; i++) {
      const b = order[dir === 0 ? i : k - 1 - i];
      const o = base + b * 2;
      gl += hist[o];
      hl += hist[o + 1];
      cl = hl * cph;
      for (let ml = 0; ml < 2; ml++) {
        if (ml === 1 && cm === 0) break;
        const gL = ml ? gl + gm : gl;
        const hL = ml ? hl + hm : hl;
        const cL = ml ? cl + cm : cl;
        const gR = g - gL;
        const hR = h - hL;
        const cR = c - cL;
        if (cL < p.minSamplesLeaf || cR < p.minSamplesLeaf || hL < p.minHessianLeaf || hR < p.minHessianLeaf) continue;
        const gain = (gL * gL) / (hL + lambda) + (gR * gR) / (hR + lambda) - parent;
        if (gain > out.gain) {
          const mask = new Uint32Array(8);
          for (let j = 0; j <= i; j++) {
            const bb = order[dir === 0 ? j : k - 1 - j];
            mask[bb >>> 5] |= 1 << (bb & 31);
          }
          out.gain = gain;
          out.feature = f;
          out.bin = 0;
          out.catMask = mask;
          out.missingLeft = ml === 1 || (cm === 0 && cL >= cR);
          out.gl = gL;
          out.hl = hL;
          out.cl = cL;
        }
      }
    }
  }
}
