import { type EventData, type OnlineViewUpdatedV1, type PointInTimeJoinSpec } from '@keel/contracts';
import { isDuplicateKey } from '@keel/coordination';
import { type Connection, type Model, Schema } from 'mongoose';

/** What a view is built from: a join as its spec declares it, less `maxAgeMs` (serving applies that per model). */
export type OnlineViewDefinition = Pick<PointInTimeJoinSpec, 'entityKey' | 'featureTime' | 'createdTime' | 'features'>;

/**
 * The current online view of a feature table a pipeline joins, for one definition of the join: what
 * `mlops.features.online-view.v1` announced, and the definition (absent in records from before views were keyed by
 * it), so features can keep rebuilding a view that a model trained on an earlier spec still reads.
 */
export type OnlineViewRecord = EventData<typeof OnlineViewUpdatedV1> & {
  join?: OnlineViewDefinition;
  updatedAt: Date;
};

interface OnlineViewDocument extends OnlineViewRecord {
  /** onlineViewId: serving looks a view up by `_id` alone (docs/design/repositories.md). */
  _id: string;
}

const onlineViewSchema = new Schema<OnlineViewDocument>(
  {
    _id: { type: String, required: true },
    pipelineId: { type: String, required: true },
    tablePipelineId: { type: String, required: true },
    upToDatasetVersionId: { type: String, required: true },
    sequence: { type: Number, required: true },
    viewUri: { type: String, required: true },
    viewSha256: { type: String, required: true },
    joinSha256: { type: String },
    join: { type: Schema.Types.Mixed },
    entities: { type: Number, required: true },
    updatedAt: { type: Date, required: true },
  },
  { collection: 'online_views', versionKey: false },
);

const WITHOUT_ID = { _id: 0 } as const;

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
 * every service reads specs.
 */
export class OnlineViewStore {
  private readonly views: Model<OnlineViewDocument>;

  constructor(mongo: Connection) {
    this.views =
      (mongo.models.OnlineView as Model<OnlineViewDocument> | undefined) ??
      mongo.model<OnlineViewDocument>('OnlineView', onlineViewSchema);
  }

  /** The current view built for the join definition hashed `joinSha256` (absent: the record from before hashes). */
  current(pipelineId: string, tablePipelineId: string, joinSha256?: string): Promise<OnlineViewRecord | null> {
    return this.views
      .findById(onlineViewId(pipelineId, tablePipelineId, joinSha256), WITHOUT_ID)
      .lean<OnlineViewRecord>()
      .exec();
  }

  /**
   * Every recorded view of a table (all joining pipelines and definitions): a scan, run once per validated table
   * version and when a model trained before hashes needs its view; records are few (a handful per join).
   */
  ofTable(tablePipelineId: string): Promise<OnlineViewRecord[]> {
    const filter = { tablePipelineId: tablePipelineId as OnlineViewRecord['tablePipelineId'] };
    return this.views.find(filter, WITHOUT_ID).lean<OnlineViewRecord[]>().exec();
  }

  /**
   * Records a view as current unless one of a later table version is, or this very one (same contents): true when
   * it was recorded. One conditional write: the filter matches only a record of this or an earlier table version;
   * when none matches, the upsert's insert of the same `_id` fails with a duplicate key ("a later one, or this one,
   * is current"). FerretDB's conditional updates are not atomic under concurrency (docs/design/repositories.md,
   * rule 2), so two writers can still both pass the filter.
   */
  async record(view: EventData<typeof OnlineViewUpdatedV1> & { join?: OnlineViewDefinition }): Promise<boolean> {
    const _id = onlineViewId(view.pipelineId, view.tablePipelineId, view.joinSha256);
    try {
      await this.views.updateOne(
        { _id, sequence: { $lte: view.sequence }, viewSha256: { $ne: view.viewSha256 } },
        { $set: { ...view, updatedAt: new Date() } },
        { upsert: true },
      );
      return true;
    } catch (error) {
      if (isDuplicateKey(error)) return false;
      throw error;
    }
  }
}

/**
 * The view a model trained before views were keyed by join hash reads (its signature's join has no hash): of the
 * pipeline's views of the table, one built for the same key with every feature the model takes, the newest table
 * version first (features keeps the current spec's one current); else the record from before hashes.
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
  return covering[0] ?? mine.find((r) => !r.join);
}
