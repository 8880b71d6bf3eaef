/**
 * How a materialized feature set is laid out, shared by the features service that writes it and the training service
 * that reads it: the dataset's columns of the labelled rows plus one column naming each row's split.
 */

/** Which part of the data a row belongs to. */
export type SplitName = 'train' | 'validation' | 'holdout';

export const SPLITS: readonly SplitName[] = ['train', 'validation', 'holdout'];

/** The column that tags each feature-set row with its split. */
export const SPLIT_COLUMN = 'split';

/**
 * The column holding each row's stable key (see `rowKey`): lets anyone tell, row by row, whether two feature sets
 * share rows, e.g. whether a candidate's holdout row trained the champion.
 */
export const ROW_KEY_COLUMN = '_row_key';

/** The column holding each row's training weight, when the spec asks for recency weights. */
export const WEIGHT_COLUMN = '_weight';

/** Cells as feature transforms read them: booleans become their text, everything else is kept. */
export function transformInputs(values: readonly (number | string | boolean | null)[]): (number | string | null)[] {
  return values.map((v) => (typeof v === 'boolean' ? String(v) : v));
}
