import { type EventData, type OnlineViewUpdatedV1 } from '@keel/contracts';
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
   * Records a view as current unless one of a later table version is, or this very one: true when it was recorded.
   * Read, then written by `_id` (the store has no conditional update); two writers of one view build it from the
   * same versions, so the last write of a race holds the same values.
   */
  async record(view: EventData<typeof OnlineViewUpdatedV1>): Promise<boolean> {
    const existing = await this.current(view.pipelineId, view.tablePipelineId);
    if (existing && (existing.sequence > view.sequence || existing.viewSha256 === view.viewSha256)) return false;
    const _id = onlineViewId(view.pipelineId, view.tablePipelineId);
    await this.views.updateOne({ _id }, { $set: { ...view, updatedAt: new Date() } }, { upsert: true });
    return true;
  }
}
