import { type PointInTimeJoin } from './point-in-time';
import { timeValueMs } from './snapshot';
import { type DatasetTable } from './table';

/** What serving needs of a point-in-time join: the entity key, the table's times and the features to take. */
export type OnlineViewJoin = Pick<PointInTimeJoin, 'entityKey' | 'featureTime' | 'createdTime' | 'features'>;

/** One table row of an entity as the online view keeps it: when its values became true, and the values. */
export type OnlineViewRow = [time: number, values: (number | string | null)[]];

/**
 * The online view of a feature table (Feast's online store): per entity, the latest row at or before the time the
 * view was built and any rows dated later (a future-dated row must not be served before its time, nor hide the
 * current one). Rows in time order. Serialized as JSON, stored content-addressed.
 */
export interface OnlineView {
  format: 'keel.online-view';
  version: 1;
  /** The features, in the order of each row's values, with their types. */
  features: { name: string; type: string }[];
  entities: Record<string, OnlineViewRow[]>;
}

/**
 * The online view of a feature table from its versions (oldest first) at wall-clock time `now`: the same choice as
 * {@link pointInTimeJoin} makes for a row at `now` (latest feature time, then latest created time, then the row that
 * arrived last), keeping later-dated rows for their time.
 */
export function buildOnlineView(tables: readonly DatasetTable[], join: OnlineViewJoin, now: number): OnlineView {
  const candidates = new Map<string, { time: number; created: number; order: number; values: OnlineViewRow[1] }[]>();
  let order = 0;
  let types: string[] | undefined;
  for (const table of tables) {
    const column = (name: string) => {
      const found = table.columns.find((c) => c.name === name);
      if (!found) throw new Error(`feature table has no column "${name}"`);
      return found;
    };
    const keys = column(join.entityKey).values;
    const times = column(join.featureTime).values;
    const created = join.createdTime ? column(join.createdTime).values : undefined;
    const features = join.features.map(column);
    types ??= features.map((c) => c.type);
    for (let i = 0; i < table.rowCount; i++, order++) {
      const time = timeValueMs(times[i]);
      if (keys[i] === null || Number.isNaN(time)) continue;
      const entity = String(keys[i]);
      let rows = candidates.get(entity);
      if (!rows) candidates.set(entity, (rows = []));
      const values = features.map((c) => c.values[i] as number | string | null);
      rows.push({ time, created: created ? timeValueMs(created[i]) || 0 : 0, order, values });
    }
  }
  const entities: Record<string, OnlineViewRow[]> = {};
  for (const [entity, rows] of candidates) {
    rows.sort((a, b) => a.time - b.time || a.created - b.created || a.order - b.order);
    // The last row at or before now wins over every earlier one; later-dated rows wait for their time.
    let first = 0;
    for (let k = 0; k < rows.length; k++) if (rows[k].time <= now) first = k;
    entities[entity] = rows.slice(first).map((row): OnlineViewRow => [row.time, row.values]);
  }
  const features = join.features.map((name, k) => ({ name, type: types?.[k] ?? 'string' }));
  return { format: 'keel.online-view', version: 1, features, entities };
}

/**
 * An entity's feature values at time `now`: its latest row at or before `now` and no older than `maxAgeMs`, or
 * undefined (the features are then missing).
 */
export function onlineValuesAt(
  rows: readonly OnlineViewRow[] | undefined,
  now: number,
  maxAgeMs?: number,
): OnlineViewRow[1] | undefined {
  if (!rows) return undefined;
  let found: OnlineViewRow | undefined;
  for (const row of rows) {
    if (row[0] > now) break;
    found = row;
  }
  if (!found || (maxAgeMs !== undefined && now - found[0] > maxAgeMs)) return undefined;
  return found[1];
}
