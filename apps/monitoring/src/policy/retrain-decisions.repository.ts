import { Injectable, type OnModuleInit } from '@nestjs/common';
import { isDuplicateKey, mongoKeyedTable, VersionedDocuments } from '@keel/coordination';
import { Infrastructure } from '@keel/service-runtime';
import { type PolicyState, type RetrainDecision } from './retrain-policy';

/** A decision as stored and listed: `_id` = `<pipeline>#<sequence>`. */
export interface StoredRetrainDecision extends RetrainDecision {
  pipelineId: string;
  signalSummary: string;
  decidedAt: Date;
  /** The trace the signal arrived in, which the fired request continues. */
  traceId?: string;
}

const DECISIONS = 'retrain_decisions';

/**
 * The policy's per-pipeline state, by compare-and-set (`@keel/coordination`): two replicas deciding for one pipeline
 * at once (signals of different topics land on different partitions) never both pass a cooldown. And every decision,
 * one document each, inserted by `_id` so a redelivery writes it once.
 */
@Injectable()
export class RetrainDecisionsRepository implements OnModuleInit {
  readonly states: VersionedDocuments<PolicyState>;

  constructor(private readonly infra: Infrastructure) {
    this.states = new VersionedDocuments<PolicyState>({
      revisions: mongoKeyedTable(infra.mongo, 'retrain_policy_revisions'),
      heads: mongoKeyedTable(infra.mongo, 'retrain_policy_heads'),
      keepStates: 3,
      revisionId: (name, version) => `${name}#${version}`,
    });
  }

  async onModuleInit(): Promise<void> {
    await this.collection().createIndex({ pipelineId: 1, sequence: -1 });
  }

  /** Stores a decision once; a second write of the same decision (a redelivery) is a no-op. */
  async record(decision: StoredRetrainDecision): Promise<void> {
    try {
      await this.collection().insertOne({ _id: `${decision.pipelineId}#${decision.sequence}`, ...decision });
    } catch (error) {
      if (!isDuplicateKey(error)) throw error;
    }
  }

  async find(pipelineId: string, sequence: number): Promise<StoredRetrainDecision | null> {
    return this.collection().findOne({ _id: `${pipelineId}#${sequence}` }, { projection: { _id: 0 } });
  }

  /** Newest first. */
  async list(
    pipelineId: string,
    filter: { outcome?: RetrainDecision['outcome']; limit: number },
  ): Promise<StoredRetrainDecision[]> {
    return this.collection()
      .find(
        { pipelineId, ...(filter.outcome ? { outcome: filter.outcome } : {}) },
        { projection: { _id: 0 }, sort: { sequence: -1 }, limit: filter.limit },
      )
      .toArray();
  }

  private collection() {
    return this.infra.mongo.collection<StoredRetrainDecision & { _id: string }>(DECISIONS);
  }
}
