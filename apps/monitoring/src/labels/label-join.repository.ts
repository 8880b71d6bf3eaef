import { Injectable } from '@nestjs/common';
import { Infrastructure } from '@keel/service-runtime';
import { type Collection } from 'mongodb';

/** How the join settled a label. */
export type JoinOutcome = 'joined' | 'unknown' | 'other-pipeline' | 'invalid';

/** The settled fate of the first label of a prediction (`label_joins`, `_id` = predictionKey). */
export interface JoinRecord {
  _id: string;
  pipelineId: string;
  predictionId: string;
  outcome: JoinOutcome;
  /** receivedAt of the label settled: the same label met again (a round that crashed before settling it) is no duplicate. */
  labelReceivedAt: Date;
  settledAt: Date;
  /**
   * Joined only: the model that served it, the label's sequence number among that version's joins, and what
   * performance read (score, label as a number, servedAt), so a join can be replayed without the archive.
   */
  modelName?: string;
  modelVersion?: number;
  seq?: number;
  score?: number;
  label?: number;
  servedAt?: number;
}

/**
 * Join outcomes, one per pipeline and prediction id, inserted once (`_id` = predictionKey): the first label of a
 * prediction decides, later ones are duplicates.
 */
@Injectable()
export class LabelJoinRepository {
  private readonly joins: Collection<JoinRecord>;

  constructor(infra: Infrastructure) {
    this.joins = infra.mongo.collection<JoinRecord>('label_joins');
  }

  async find(keys: readonly string[]): Promise<Map<string, JoinRecord>> {
    if (keys.length === 0) return new Map();
    const found = await this.joins.find({ _id: { $in: [...keys] } }).toArray();
    return new Map(found.map((record) => [record._id, record]));
  }

  /** Inserts in order (a duplicate key stops the rest and throws: another writer got there first). */
  async insert(records: readonly JoinRecord[]): Promise<void> {
    if (records.length === 0) return;
    await this.joins.insertMany([...records], { ordered: true });
  }
}
