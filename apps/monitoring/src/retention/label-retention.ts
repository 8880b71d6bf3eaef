import { Injectable, type OnModuleInit } from '@nestjs/common';
import { Infrastructure } from '@keel/service-runtime';

/** The label join's and performance's collections the retention sweep bounds (their repositories are in labels/ and performance/). */
export const LABEL_COLLECTIONS = {
  joins: 'label_joins',
  pending: 'label_pending',
  counts: 'label_counts',
  logs: 'label_logs',
  performanceWindows: 'performance_windows',
  performanceStates: 'performance_states',
} as const;

/** What one sweep of the label collections deleted. */
export interface LabelSweepOutcome {
  labelJoins: number;
  pendingLabels: number;
  labelCounts: number;
  performanceWindows: number;
  performanceStates: number;
}

/** The cutoffs of one sweep. */
export interface LabelCutoffs {
  /** Join outcomes settled before this go (label_joins.settledAt). */
  joins: Date;
  /** Labels received before this go: those still waiting for the join too (label_pending.receivedAt). */
  labels: Date;
  /** Label windows closed, and version states last updated, before this go. */
  performance: Date;
}

/**
 * Retention of what the label join and performance keep besides the labels themselves: join outcomes, labels still
 * pending past the labels' retention, label windows and version states nobody updates any more, and the label counts
 * of pipelines that have no label left. Deletes by age only (the store has no TTL indexes), a few commands per sweep.
 */
@Injectable()
export class LabelRetention implements OnModuleInit {
  constructor(private readonly infra: Infrastructure) {}

  /** The join outcomes are many (one per labelled prediction): their sweep goes by an index. */
  async onModuleInit(): Promise<void> {
    await this.infra.mongo.collection(LABEL_COLLECTIONS.joins).createIndex({ settledAt: 1 });
  }

  async sweep(cutoffs: LabelCutoffs): Promise<LabelSweepOutcome> {
    const collection = (name: string) => this.infra.mongo.collection(name);
    const deleted = async (name: string, filter: Record<string, unknown>) =>
      (await collection(name).deleteMany(filter)).deletedCount;
    const outcome: LabelSweepOutcome = {
      labelJoins: await deleted(LABEL_COLLECTIONS.joins, { settledAt: { $lt: cutoffs.joins } }),
      pendingLabels: await deleted(LABEL_COLLECTIONS.pending, { receivedAt: { $lt: cutoffs.labels } }),
      performanceWindows: await deleted(LABEL_COLLECTIONS.performanceWindows, {
        closedAt: { $lt: cutoffs.performance },
      }),
      // A state with events still in its outbox is kept until they are published.
      performanceStates: await deleted(LABEL_COLLECTIONS.performanceStates, {
        updatedAt: { $lt: cutoffs.performance },
        outbox: '[]',
      }),
      labelCounts: 0,
    };
    // Counts are two documents per pipeline, kept while the pipeline has a label stored or waiting (run after the
    // labels' own sweep, so "stored" means within their retention); they start again from zero with its next label.
    const counted = (await collection(LABEL_COLLECTIONS.counts).distinct('pipelineId', {})) as string[];
    for (const pipelineId of counted) {
      const hasLabels =
        (await collection(LABEL_COLLECTIONS.logs).findOne({ pipelineId }, { projection: { _id: 1 } })) !== null ||
        (await collection(LABEL_COLLECTIONS.pending).findOne({ pipelineId }, { projection: { _id: 1 } })) !== null;
      if (!hasLabels) outcome.labelCounts += await deleted(LABEL_COLLECTIONS.counts, { pipelineId });
    }
    return outcome;
  }
}
