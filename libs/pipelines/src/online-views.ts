import { type EventData, type OnlineViewUpdatedV1, type PointInTimeJoinSpec } from '@keel/contracts';
import {
  isTombstoneBefore,
  type KeyedTable,
  MemoryKeyedTable,
  mongoKeyedTable,
  tombstonesBefore,
  VersionedDocuments,
} from '@keel/coordination';
import { type Connection } from 'mongoose';

/** What a view is built from: a join as its spec declares it, less `maxAgeMs` (serving applies that per model). */
export type OnlineViewDefinition = Pick<PointInTimeJoinSpec, 'entityKey' | 'featureTime' | 'createdTime' | 'features'>;

/**
 * The current online view of a feature table a pipeline joins, for one definition of the join: what
 * `mlops.features.online-view.v1` announced, and the definition (absent in records from before views were keyed by
 * it), so features can keep rebuilding a view that a model trained on an earlier spec still reads.
 */
export type OnlineViewRecord = EventData<typeof OnlineViewUpdatedV1> & {
  join?: OnlineViewDefinition;
  /** How many table versions (up to `sequence`) the view was built from; absent in records from before it. */
  versionCount?: number;
  /**
   * The table column the view took as feature time: the join's featureTime, or for a join recorded before the
   * registry pinned it, the table's timeColumn when first built, kept so a rebuild of that definition for a model
   * that still reads it does not follow the table to another column. Absent in records from before it.
   */
  builtFeatureTime?: string;
  /**
   * The wall-clock time (ms) the view was built at: the next build may extend it (read only the versions since) at
   * this time or later, as rows it dropped were superseded by then. Absent in records from before it.
   */
  builtAtMs?: number;
  updatedAt: Date;
};

/** A view record's state in its revisions and head: the record without the version VersionedDocuments adds. */
type OnlineViewState = OnlineViewRecord & Record<string, unknown>;

/** The heads (`_id` onlineViewId; serving looks a view up by `_id` alone, docs/design/repositories.md). */
export const ONLINE_VIEWS_COLLECTION = 'online_views';
/** Every version of each view record, `<onlineViewId>@<n>`: inserting one is the claim of that version. */
export const ONLINE_VIEW_REVISIONS_COLLECTION = 'online_view_revisions';

/** Where the records live: the two keyed tables, and the ids of a table's views (a scan of the heads). */
export interface OnlineViewTables {
  revisions: KeyedTable;
  heads: KeyedTable;
  idsOfTable(tablePipelineId: string): Promise<string[]>;
  /** Removes at most `limit` revisions tombstoned before `cutoff` (a scan of the revisions): how many it removed. */
  removeTombstones(cutoff: Date, limit: number): Promise<number>;
}

/**
 * `<pipelineId>|<tablePipelineId>|<joinSha256>`: one view per definition of a join, so a champion and a challenger
 * trained on different definitions each read their own. Without a hash: the one record per pipeline and table kept
 * before views were keyed by it.
 */
export const onlineViewId = (pipelineId: string, tablePipelineId: string, joinSha256?: string) =>
  joinSha256 === undefined ? `${pipelineId}|${tablePipelineId}` : `${pipelineId}|${tablePipelineId}|${joinSha256}`;

/**
 * Which online view of each joined feature table is current, per join definition. Features is the only writer (it
 * builds the views), serving reads them (when a model needs one, when a view's event arrives, and periodically), as
 * every service reads specs. A record moves by compare-and-set on insert-claimed revisions (`VersionedDocuments`,
 * docs/design/repositories.md rule 2), so of two features replicas recording views of the same join, exactly one
 * wins each move and none moves it back.
 */
export class OnlineViewStore {
  private readonly tables: OnlineViewTables;
  private readonly versions: VersionedDocuments<OnlineViewState>;

  constructor(mongo: Connection | OnlineViewTables) {
    this.tables = 'revisions' in mongo ? mongo : mongoOnlineViewTables(mongo);
    this.versions = new VersionedDocuments<OnlineViewState>({
      revisions: this.tables.revisions,
      heads: this.tables.heads,
      // A view's history is not needed once superseded: the last few keep their state (the tombstones keep their
      // ids, so a version can never be claimed twice).
      keepStates: 4,
    });
  }

  /** The current view built for the join definition hashed `joinSha256` (absent: the record from before hashes). */
  async current(pipelineId: string, tablePipelineId: string, joinSha256?: string): Promise<OnlineViewRecord | null> {
    return (await this.versions.read(onlineViewId(pipelineId, tablePipelineId, joinSha256)))?.state ?? null;
  }

  /**
   * Every recorded view of a table (all joining pipelines and definitions): a scan, run once per validated table
   * version and when a model trained before hashes needs its view; records are few (a handful per join).
   */
  async ofTable(tablePipelineId: string): Promise<OnlineViewRecord[]> {
    const records: OnlineViewRecord[] = [];
    for (const id of await this.tables.idsOfTable(tablePipelineId)) {
      const latest = await this.versions.read(id);
      if (latest) records.push(latest.state);
    }
    return records;
  }

  /**
   * Records a view built from `versionCount` table versions (default 1) up to `view.sequence` as current, unless the current one
   * is of a later table version, or of the same one with as many versions in it: true when it was recorded (then
   * features announces it). The same sequence with more versions is a version validated after a higher-numbered one
   * (versions validate in parallel) reaching the view. Two replicas building the same versions: one records it, the
   * other learns it lost.
   */
  async record(
    view: EventData<typeof OnlineViewUpdatedV1> &
      Pick<OnlineViewRecord, 'join' | 'versionCount' | 'builtFeatureTime' | 'builtAtMs'>,
  ): Promise<boolean> {
    const versionCount = view.versionCount ?? 1;
    const { changed } = await this.versions.update(
      onlineViewId(view.pipelineId, view.tablePipelineId, view.joinSha256),
      (current) =>
        current && !supersedes({ sequence: view.sequence, versionCount }, current.state)
          ? null
          : ({ ...view, versionCount, updatedAt: new Date() } as OnlineViewState),
    );
    return changed;
  }

  /**
   * Removes the view revisions tombstoned more than `retentionMs` before `now`, at most `limit` of them: each build
   * past the fourth of a view leaves one (keepStates), so without this they grow with every table version. Idempotent
   * and safe from any number of replicas at once (it deletes tombstones only, by age; two deleting the same one is
   * one deletion), so no lease. A scan of the revisions: a periodic sweep's, never a request's.
   */
  sweepTombstones(
    now = new Date(),
    { retentionMs = ONLINE_VIEW_TOMBSTONE_RETENTION_MS, limit = ONLINE_VIEW_TOMBSTONES_PER_SWEEP } = {},
  ): Promise<number> {
    return this.tables.removeTombstones(new Date(now.getTime() - retentionMs), limit);
  }
}

/**
 * How long a superseded revision of a view record keeps its tombstone. A tombstone only keeps its version from being
 * claimed again by a writer that read a state that old: a features replica holds a read for one build (seconds to
 * minutes), and readers start from the head, which lags the newest revision by at most one (raised right after each
 * insert, repaired by every read), never from a revision that far back. A day is ample.
 */
export const ONLINE_VIEW_TOMBSTONE_RETENTION_MS = 24 * 60 * 60 * 1000;

/** Most tombstones one sweep removes: a sweep's work stays bounded however many piled up (the next one goes on). */
export const ONLINE_VIEW_TOMBSTONES_PER_SWEEP = 1_000;

/**
 * Whether a view supersedes the current one: of a later table version, or of the same one built from more versions
 * (a record from before counts was kept is superseded by a rebuild of its sequence once).
 */
function supersedes(
  view: { sequence: number; versionCount: number },
  current: { sequence: number; versionCount?: number },
): boolean {
  if (view.sequence !== current.sequence) return view.sequence > current.sequence;
  return current.versionCount === undefined || view.versionCount > current.versionCount;
}

/** The records in MongoDB/FerretDB: heads in `online_views` (scanned by table), revisions beside them. */
function mongoOnlineViewTables(mongo: Connection): OnlineViewTables {
  return {
    revisions: mongoKeyedTable(mongo, ONLINE_VIEW_REVISIONS_COLLECTION),
    heads: mongoKeyedTable(mongo, ONLINE_VIEWS_COLLECTION),
    async idsOfTable(tablePipelineId) {
      const heads = await mongo
        .collection<{ _id: string }>(ONLINE_VIEWS_COLLECTION)
        .find({ tablePipelineId }, { projection: { _id: 1 } })
        .toArray();
      return heads.map((head) => head._id);
    },
    async removeTombstones(cutoff, limit) {
      const revisions = mongo.collection<{ _id: string }>(ONLINE_VIEW_REVISIONS_COLLECTION);
      const batch = await revisions
        .find(tombstonesBefore(cutoff), { projection: { _id: 1 } })
        .limit(limit)
        .toArray();
      if (batch.length === 0) return 0;
      // By `_id`, and only while still a tombstone that old (the filter again): nothing else can be hit.
      const { deletedCount } = await revisions.deleteMany({
        _id: { $in: batch.map((revision) => revision._id) },
        ...tombstonesBefore(cutoff),
      });
      return deletedCount;
    },
  };
}

/** Tables in memory with the same semantics, for unit tests of code that reads or records views. */
export function memoryOnlineViewTables(): OnlineViewTables & { heads: MemoryKeyedTable; revisions: MemoryKeyedTable } {
  const heads = new MemoryKeyedTable();
  const revisions = new MemoryKeyedTable();
  return {
    revisions,
    heads,
    async idsOfTable(tablePipelineId) {
      await Promise.resolve();
      return [...heads.documents.values()].filter((d) => d.tablePipelineId === tablePipelineId).map((d) => d._id);
    },
    async removeTombstones(cutoff, limit) {
      await Promise.resolve();
      const old = [...revisions.documents.values()].filter((d) => isTombstoneBefore(d, cutoff)).slice(0, limit);
      for (const revision of old) revisions.documents.delete(revision._id);
      return old.length;
    },
  };
}

/**
 * The view a model trained before views were keyed by join hash reads (its signature's join has no hash): of the
 * pipeline's views of the table, one built for the same key with every feature the model takes, the newest table
 * version first (features keeps the current spec's one current); else the record from before hashes, but only while
 * no view of the table is of a later version: features never rebuilds that record (it names no definition), so once
 * the table has moved on it would serve values that stop moving, and the model answers UNAVAILABLE instead.
 */
export function viewForUnhashedJoin(
  records: readonly OnlineViewRecord[],
  pipelineId: string,
  join: { pipeline: string; entityKey: string; features: readonly string[] },
): OnlineViewRecord | undefined {
  const mine = records.filter((r) => r.pipelineId === pipelineId && r.tablePipelineId === join.pipeline);
  const covering = mine
    .filter((r) => r.join?.entityKey === join.entityKey && join.features.every((f) => r.join!.features.includes(f)))
    .sort((a, b) => b.sequence - a.sequence || b.updatedAt.getTime() - a.updatedAt.getTime());
  if (covering[0]) return covering[0];
  const legacy = mine.find((r) => !r.join);
  const newest = Math.max(0, ...records.filter((r) => r.tablePipelineId === join.pipeline).map((r) => r.sequence));
  return legacy && legacy.sequence >= newest ? legacy : undefined;
}
