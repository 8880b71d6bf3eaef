import { StatsInputError } from '../errors';
import { assertNonEmpty, type Numbers } from '../internal/validate';

/** A group (slice) identifier: a category value or a number. */
export type GroupKey = string | number;

/** Picks the rows of one group out of any row-aligned array. */
export type Pick = (values: Numbers) => Float64Array;

/** Row indices of each group, groups in sorted key order (numbers before strings). */
export function groupIndices(groups: ArrayLike<GroupKey>): Map<GroupKey, Uint32Array> {
  assertNonEmpty('groups', groups);
  const lists = new Map<GroupKey, number[]>();
  for (let i = 0; i < groups.length; i++) {
    const g = groups[i];
    if (typeof g === 'number' && !Number.isFinite(g)) {
      throw new StatsInputError('non-finite', `groups[${i}] is ${g}; group keys must be finite or strings`);
    }
    let list = lists.get(g);
    if (!list) lists.set(g, (list = []));
    list.push(i);
  }
  const keys = [...lists.keys()].sort((a, b) =>
    typeof a === typeof b ? (a < b ? -1 : a > b ? 1 : 0) : typeof a === 'number' ? -1 : 1,
  );
  return new Map(keys.map((k) => [k, Uint32Array.from(lists.get(k)!)]));
}

/**
 * Evaluates `fn` once per group. `fn` receives a `pick` that selects that group's rows from any array aligned with
 * `groups`, e.g. `sliceBy(region, (pick) => f1(pick(yTrue), pick(yPred)))`. A metric that fails on one group
 * (say a single-class AUC) throws a `StatsInputError` naming the group.
 */
export function sliceBy<T>(groups: ArrayLike<GroupKey>, fn: (pick: Pick, group: GroupKey) => T): Map<GroupKey, T> {
  const out = new Map<GroupKey, T>();
  for (const [group, rows] of groupIndices(groups)) {
    const pick: Pick = (values) => {
      if (values.length !== groups.length) {
        throw new StatsInputError(
          'length-mismatch',
          `sliceBy: array has length ${values.length} but groups has length ${groups.length}`,
        );
      }
      const slice = new Float64Array(rows.length);
      for (let k = 0; k < rows.length; k++) slice[k] = values[rows[k]];
      return slice;
    };
    try {
      out.set(group, fn(pick, group));
    } catch (error) {
      if (error instanceof StatsInputError) {
        throw new StatsInputError(error.code, `group ${JSON.stringify(group)}: ${error.message}`);
      }
      throw error;
    }
  }
  return out;
}
