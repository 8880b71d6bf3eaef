import { type Task } from '../linear/linear-model';

/**
 * Fitted tree ensemble with all trees' nodes flattened into parallel arrays (the same layout
 * the evaluator loads into typed arrays). Node `n` is a leaf when `feature[n] === -1`, and then
 * `value[n]` is its output. Otherwise a row goes to `left[n]` when its feature value is NaN and
 * `missingLeft[n]` is 1, or when the value is `<= threshold[n]` (numeric, `catOffset[n] === -1`),
 * or when the integer code has its bit set in `catBits[catOffset[n] .. + 8]` (categorical);
 * else to `right[n]`. The raw score of output `o` is `baseScores[o]` plus the leaves reached in
 * every tree `t` with `treeOutputs[t] === o`.
 */
export interface GbdtModelBody {
  kind: 'gbdt';
  task: Task;
  nFeatures: number;
  nOutputs: number;
  baseScores: number[];
  treeRoots: number[];
  treeOutputs: number[];
  feature: number[];
  threshold: number[];
  missingLeft: number[];
  left: number[];
  right: number[];
  value: number[];
  catOffset: number[];
  catBits: number[];
}

/** Number of 32-bit words in a categorical node's bit set (codes 0..255). */
export const CAT_WORDS = 8;
