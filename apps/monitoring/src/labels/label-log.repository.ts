import { Injectable, type OnModuleInit } from '@nestjs/common';
import { Infrastructure } from '@keel/service-runtime';
import { isDuplicateKey } from '@keel/coordination';
import { type Collection } from 'mongodb';
import { type Model, Schema } from 'mongoose';
import { hasLegacyKey, predictionKey } from '../prediction-key';

/** Ground truth for one prediction, joined to `prediction_logs` by predictionId. */
export interface LabelLogDocument {
  predictionId: string;
  pipelineId: string;
  label: number | string;
  observedAt: Date;
}

/**
 * As stored: `_id` is predictionKey(pipelineId, predictionId), so the per-event upsert is an `_id`-only filter and two
 * pipelines' labels of the same prediction id never meet.
 */
interface StoredLabel extends LabelLogDocument {
  _id: string;
  /** When monitoring stored it, which the retention sweep goes by (observedAt is the sender's clock). */
  receivedAt?: Date;
}

/** A label the join has not settled yet, as the join reads it. */
export interface PendingLabel extends LabelLogDocument {
  /** predictionKey(pipelineId, predictionId). */
  key: string;
  receivedAt: Date;
}

/** As `label_pending` stores it: `_id` = `<key>@<receivedAt ms>`, so a label sent again waits beside the first. */
interface StoredPendingLabel extends PendingLabel {
  _id: string;
}

const labelLogSchema = new Schema<StoredLabel>(
  {
    _id: { type: String, required: true },
    predictionId: { type: String, required: true },
    pipelineId: { type: String, required: true },
    label: { type: Schema.Types.Mixed, required: true },
    observedAt: { type: Date, required: true },
    receivedAt: { type: Date, required: false },
  },
  { collection: 'label_logs', versionKey: false },
);
labelLogSchema.index({ pipelineId: 1, observedAt: 1 });
labelLogSchema.index({ receivedAt: 1 });

/** A unique index on predictionId would refuse an `_id`-keyed label while a field-keyed one holds its prediction id. */
const FIELD_KEYED_UNIQUE_INDEX = 'predictionId_1';

/**
 * Labels received for earlier predictions (`label_logs`), keyed by pipeline and prediction id, and the labels the join
 * has not settled yet (`label_pending`: small, as the join empties it every round, so the join's scans of it stay
 * cheap; see docs/design/repositories.md).
 */
@Injectable()
export class LabelLogRepository implements OnModuleInit {
  private readonly labels: Model<StoredLabel>;
  private readonly pendingLabels: Collection<StoredPendingLabel>;

  constructor(infra: Infrastructure) {
    this.labels = infra.mongo.model<StoredLabel>('LabelLog', labelLogSchema);
    this.pendingLabels = infra.mongo.collection<StoredPendingLabel>('label_pending');
  }

  async onModuleInit(): Promise<void> {
    await this.labels.collection.dropIndex(FIELD_KEYED_UNIQUE_INDEX).catch(() => undefined);
    await this.labels.createIndexes();
  }

  /**
   * Stores labels pending for the join, then upserts them by pipeline and prediction id (a label sent again for the
   * same prediction replaces the stored one and waits for the join beside the first, which counts it a duplicate).
   * Pending first: a crash in between leaves a label the join will see, never one it misses.
   */
  async upsertMany(documents: readonly LabelLogDocument[]): Promise<void> {
    if (documents.length === 0) return;
    const receivedAt = new Date();
    await this.pendingLabels
      .insertMany(
        documents.map((doc) => {
          const key = predictionKey(doc.pipelineId, doc.predictionId);
          return { ...doc, _id: `${key}@${receivedAt.getTime()}`, key, receivedAt };
        }),
        { ordered: false },
      )
      .catch((error: unknown) => {
        // A redelivered event within the same millisecond: those labels wait already.
        if (!isDuplicateKey(error)) throw error;
      });
    await this.labels.bulkWrite(
      documents.map((doc) => ({
        updateOne: {
          filter: { _id: predictionKey(doc.pipelineId, doc.predictionId) },
          update: { $set: { ...doc, receivedAt } },
          upsert: true,
        },
      })),
      { ordered: false },
    );
  }

  /** The stored label and observedAt of each key that has one. */
  async stored(keys: readonly string[]): Promise<Map<string, Pick<LabelLogDocument, 'label' | 'observedAt'>>> {
    if (keys.length === 0) return new Map();
    const found = await this.labels
      .find({ _id: { $in: [...keys] } }, { _id: 1, label: 1, observedAt: 1 })
      .lean<Pick<StoredLabel, '_id' | 'label' | 'observedAt'>[]>();
    return new Map(found.map((label) => [label._id, { label: label.label, observedAt: label.observedAt }]));
  }

  /** Pipelines that have labels waiting for the join (a scan of the small pending collection). */
  async pendingPipelines(): Promise<string[]> {
    return (await this.pendingLabels.distinct('pipelineId', {})) as string[];
  }

  /** A pipeline's labels waiting for the join, oldest received first (then by key), at most `limit`. */
  async pending(pipelineId: string, limit: number): Promise<PendingLabel[]> {
    const found = await this.pendingLabels.find({ pipelineId }).sort({ receivedAt: 1, _id: 1 }).limit(limit).toArray();
    return found.map(({ _id: _pendingId, ...label }) => label);
  }

  /** Removes settled labels from the pending ones (exactly those read: a label sent again meanwhile stays). */
  async settle(labels: readonly PendingLabel[]): Promise<void> {
    for (let i = 0; i < labels.length; i += 1_000) {
      const ids = labels.slice(i, i + 1_000).map((label) => `${label.key}@${label.receivedAt.getTime()}`);
      await this.pendingLabels.deleteMany({ _id: { $in: ids } });
    }
  }

  /** Removes labels received before `cutoff` (the retention sweep; older labels without receivedAt go by observedAt). */
  async deleteReceivedBefore(cutoff: Date): Promise<number> {
    const result = await this.labels.deleteMany({
      $or: [{ receivedAt: { $lt: cutoff } }, { receivedAt: { $exists: false }, observedAt: { $lt: cutoff } }],
    });
    return result.deletedCount;
  }

  /**
   * Labels under an older key (an ObjectId, or the bare prediction id) move to the pipeline-scoped one; a label
   * already stored under the new key is newer and stays. The copy is written before the original is deleted, so a
   * crash in between loses nothing. One scan, run after start-up (see PredictionLogRepository.migrateLegacyKeys).
   */
  async migrateLegacyKeys(): Promise<void> {
    const cursor = this.labels.collection.find({}, { projection: { _id: 1, pipelineId: 1, predictionId: 1 } });
    for await (const key of cursor as AsyncIterable<{ _id: unknown; pipelineId: string; predictionId: string }>) {
      if (!hasLegacyKey(key)) continue;
      const legacy = (await this.labels.collection.findOne({ _id: key._id } as never)) as unknown as
        (LabelLogDocument & { _id: unknown }) | null;
      if (!legacy) continue;
      const { _id: oldId, ...label } = legacy;
      await this.labels.updateOne(
        { _id: predictionKey(label.pipelineId, label.predictionId) },
        { $setOnInsert: label },
        { upsert: true },
      );
      await this.labels.collection.deleteOne({ _id: oldId } as never);
    }
  }
}
