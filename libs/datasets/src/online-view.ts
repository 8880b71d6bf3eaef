import { type PointInTimeJoin } from './point-in-time';
import { timeValueMs } from './snapshot';
import { type DatasetTable } from './table';

/** What serving needs of a point-in-time join: the entity key, the table's times and the features to take. */
export type OnlineViewJoin = Pick<PointInTimeJoin, 'entityKey' | 'featureTime' | 'createdTime' | 'features'>;

/**
 * One table row of an entity as the online view keeps it: when its values became true, the values, and for a join
 * with a created time, that time (ms; 0 when unreadable): serving reads only the first two, the third lets the next
 * version's view be built from this one (a tie of feature times is settled by it, see buildOnlineView).
 */
export type OnlineViewRow = [time: number, values: (number | string | null)[], created?: number];

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

/** A previous view that cannot be extended (another definition, an older format): build from every version instead. */
export class PreviousOnlineViewError extends Error {}

interface Candidate {
  time: number;
  created: number;
  order: number;
  values: OnlineViewRow[1];
}

/**
 * The online view of a feature table from its versions (oldest first) at wall-clock time `now`: the same choice as
 * {@link pointInTimeJoin} makes for a row at `now` (latest feature time, then latest created time, then the row that
 * arrived last), keeping later-dated rows for their time.
 *
 * With `previous`, the view of the versions before `tables` built at a time at or before `now`, only `tables` (the
 * versions since) are read: the result is the same as building from every version. Why: each entity's rows the
 * previous view dropped sort before the row that was current then; that row's time is at or before `now`, so the
 * current row now sorts at or after it, and everything before it is dropped again. The previous rows keep their
 * order and come before every newer version's row (they arrived first), which settles ties as a full build does; a
 * late-arriving row (an older feature time) sorts before the newer value and cannot override it. The caller checks
 * `now` (see OnlineViewsService): this function cannot know when `previous` was built. Throws
 * PreviousOnlineViewError when `previous` is not a view of this join (features differ, or a created time is asked for
 * and its rows lack one).
 */
export function buildOnlineView(
  tables: readonly DatasetTable[],
  join: OnlineViewJoin,
  now: number,
  previous?: OnlineView,
): OnlineView {
  const candidates = new Map<string, Candidate[]>();
  let order = 0;
  let types: string[] | undefined;
  if (previous) {
    types = previousTypes(previous, join);
    for (const [entity, rows] of Object.entries(previous.entities)) {
      candidates.set(
        entity,
        rows.map(([time, values, created]) => {
          if (join.createdTime && typeof created !== 'number') {
            throw new PreviousOnlineViewError('its rows carry no created time');
          }
          return { time, created: created ?? 0, order: order++, values };
        }),
      );
    }
  }
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
  // No prototype: an entity keyed "__proto__" is a key like any other (a plain object would set its prototype).
  const entities = Object.create(null) as Record<string, OnlineViewRow[]>;
  for (const [entity, rows] of candidates) {
    rows.sort((a, b) => a.time - b.time || a.created - b.created || a.order - b.order);
    // The last row at or before now wins over every earlier one; later-dated rows wait for their time.
    let first = 0;
    for (let k = 0; k < rows.length; k++) if (rows[k].time <= now) first = k;
    entities[entity] = rows
      .slice(first)
      .map((row): OnlineViewRow => (join.createdTime ? [row.time, row.values, row.created] : [row.time, row.values]));
  }
  const features = join.features.map((name, k) => ({ name, type: types?.[k] ?? 'string' }));
  return { format: 'keel.online-view', version: 1, features, entities };
}

/** The previous view's feature types, when it is a view of exactly these features in this order. */
function previousTypes(previous: OnlineView, join: OnlineViewJoin): string[] {
  const names = Array.isArray(previous.features) ? previous.features.map((feature) => feature.name) : [];
  if (
    previous.format !== 'keel.online-view' ||
    previous.version !== 1 ||
    typeof previous.entities !== 'object' ||
    previous.entities === null ||
    names.length !== join.features.length ||
    names.some((name, k) => name !== join.features[k])
  ) {
    throw new PreviousOnlineViewError('it is not a view of these features');
  }
  return previous.features.map((feature) => feature.type);
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
