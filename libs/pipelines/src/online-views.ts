import { type EventData, type OnlineViewUpdatedV1 } from '@keel/contracts';
import { isDuplicateKey } from '@keel/coordination';
import { type Connection, type Model, Schema } from 'mongoose';

/** The current online view of a feature table a pipeline joins: what `mlops.features.online-view.v1` announced. */
export type OnlineViewRecord = EventData<typeof OnlineViewUpdatedV1> & { updatedAt: Date };

interface OnlineViewDocument extends OnlineViewRecord {
  /** `<pipelineId>|<tablePipelineId>`: serving looks a view up by `_id` alone (docs/design/repositories.md). */
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
    entities: { type: Number, required: true },
    updatedAt: { type: Date, required: true },
  },
  { collection: 'online_views', versionKey: false },
);

const WITHOUT_ID = { _id: 0 } as const;

export const onlineViewId = (pipelineId: string, tablePipelineId: string) => `${pipelineId}|${tablePipelineId}`;

/**
 * Which online view of each joined feature table is current. Features is the only writer (it builds the views),
 * serving reads them (at start, when a view's event arrives, and periodically), as every service reads specs.
 */
export class OnlineViewStore {
  private readonly views: Model<OnlineViewDocument>;

  constructor(mongo: Connection) {
    this.views =
      (mongo.models.OnlineView as Model<OnlineViewDocument> | undefined) ??
      mongo.model<OnlineViewDocument>('OnlineView', onlineViewSchema);
  }

  current(pipelineId: string, tablePipelineId: string): Promise<OnlineViewRecord | null> {
    return this.views.findById(onlineViewId(pipelineId, tablePipelineId), WITHOUT_ID).lean<OnlineViewRecord>().exec();
  }

  /**
   * Records a view as current unless one of a later table version is, or this very one (same contents and join
   * definition): true when it was recorded. One conditional write: the filter matches only a record of this or an
   * earlier table version; when none matches, the upsert's insert of the same `_id` fails with a duplicate key ("a
   * later one, or this one, is current"). This narrows the race of two features replicas to the write itself, but
   * does not close it: FerretDB's conditional updates are not atomic under concurrency (docs/design/repositories.md,
   * rule 2), so two writers can still both pass the filter; closing it needs insert-claimed revisions
   * (`VersionedDocuments`). Serving follows whatever is current, and the next table version's view replaces it.
   */
  async record(view: EventData<typeof OnlineViewUpdatedV1>): Promise<boolean> {
    const _id = onlineViewId(view.pipelineId, view.tablePipelineId);
    try {
      await this.views.updateOne(
        {
          _id,
          sequence: { $lte: view.sequence },
          $or: [{ viewSha256: { $ne: view.viewSha256 } }, { joinSha256: { $ne: view.joinSha256 ?? null } }],
        },
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
