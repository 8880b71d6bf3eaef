import { type SnapshotIncrement, timeValueMs } from './snapshot';
import { column, type DatasetColumn, type DatasetTable } from './table';

/** How a table of time-stamped entity features is joined to rows (Feast's point-in-time join). */
export interface PointInTimeJoin {
  /** The entity's key, a column of both tables (`customer_id`). */
  entityKey: string;
  /** The rows' event time: a row sees the features as they were at this time, never later. */
  rowTime: string;
  /** When a feature row's values became true (its event time, not when it arrived). */
  featureTime: string;
  /** Of several feature rows at the same time, the one created last wins (Feast's created_timestamp); optional. */
  createdTime?: string;
  /** The feature columns to take. */
  features: readonly string[];
  /** A feature row older than this at the row's time is too stale: the row gets nulls (Feast's ttl). */
  maxAgeMs?: number;
}

interface FeatureRow {
  time: number;
  created: number;
  index: number;
}

/**
 * Joins feature values to rows as of each row's event time: for each row, the latest feature row of its entity whose
 * feature time is at or before the row's time (and within maxAgeMs of it), or nulls when there is none. Feature rows
 * may come in any order (late arrivals: rows whose time is earlier than rows before them); future-dated feature rows
 * are never seen by earlier rows. A row or feature row without a readable time or key takes or gives nothing.
 * Returns the rows' columns followed by the feature columns, in the rows' order.
 */
export function pointInTimeJoin(rows: DatasetTable, features: DatasetTable, join: PointInTimeJoin): DatasetTable {
  const featureKeys = column(features, join.entityKey).values;
  const featureTimes = column(features, join.featureTime).values;
  const created = join.createdTime ? column(features, join.createdTime).values : undefined;
  const byEntity = new Map<string, FeatureRow[]>();
  for (let i = 0; i < features.rowCount; i++) {
    const key = featureKeys[i];
    const time = timeValueMs(featureTimes[i]);
    if (key === null || Number.isNaN(time)) continue;
    const entity = String(key);
    let list = byEntity.get(entity);
    if (!list) byEntity.set(entity, (list = []));
    list.push({ time, created: created ? timeValueMs(created[i]) || 0 : 0, index: i });
  }
  // In time order, then creation, then arrival: the last of a run of equal times is the one that wins.
  for (const list of byEntity.values())
    list.sort((a, b) => a.time - b.time || a.created - b.created || a.index - b.index);

  const rowKeys = column(rows, join.entityKey).values;
  const rowTimes = column(rows, join.rowTime).values;
  const taken = join.features.map((name) => column(features, name));
  const out: DatasetColumn[] = taken.map((c) => ({ name: c.name, type: c.type, values: new Array(rows.rowCount) }));
  for (let r = 0; r < rows.rowCount; r++) {
    const time = timeValueMs(rowTimes[r]);
    const list = rowKeys[r] === null || Number.isNaN(time) ? undefined : byEntity.get(String(rowKeys[r]));
    const match = list ? latestAtOrBefore(list, time) : undefined;
    const fresh = match && (join.maxAgeMs === undefined || time - match.time <= join.maxAgeMs);
    taken.forEach((c, k) => (out[k].values[r] = fresh ? c.values[match.index] : null));
  }
  const names = new Set(join.features);
  return { rowCount: rows.rowCount, columns: [...rows.columns.filter((c) => !names.has(c.name)), ...out] };
}

/** The last feature row whose time is at or before `time` (binary search over rows in time order). */
function latestAtOrBefore(list: readonly FeatureRow[], time: number): FeatureRow | undefined {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid].time <= time) lo = mid + 1;
    else hi = mid;
  }
  return lo > 0 ? list[lo - 1] : undefined;
}

/**
 * A point-in-time join as a snapshot manifest records it: the join and the feature table's versions it read (every
 * validated version of the table pipeline up to the cut taken when the snapshot was first asked for), so the manifest
 * alone reproduces the joined values.
 */
export interface SnapshotJoin extends Omit<PointInTimeJoin, 'features'> {
  /** The pipeline whose dataset versions are the feature table. */
  pipelineId: string;
  features: string[];
  /** The table's versions, oldest first (a later version's row wins a tie of times). */
  increments: SnapshotIncrement[];
}

/**
 * One feature table from the versions of its pipeline, oldest first: the columns a join reads, concatenated, so on
 * equal feature (and created) times the row of the newer version wins. A version lacking a column fails, naming it.
 */
export function featureTableOf(
  versions: readonly { increment: SnapshotIncrement; table: DatasetTable }[],
  join: PointInTimeJoin,
): DatasetTable {
  const names = [join.entityKey, join.featureTime, ...(join.createdTime ? [join.createdTime] : []), ...join.features];
  const columns: DatasetColumn[] = [];
  for (const name of new Set(names)) {
    const parts = versions.map(({ increment, table }) => {
      const found = table.columns.find((c) => c.name === name);
      if (!found) throw new Error(`feature table version ${increment.datasetVersionId} has no column "${name}"`);
      return found;
    });
    columns.push({ name, type: parts[0]?.type ?? 'string', values: parts.flatMap((part) => part.values) });
  }
  return { rowCount: versions.reduce((sum, { table }) => sum + table.rowCount, 0), columns };
}
