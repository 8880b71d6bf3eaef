import { Injectable } from '@nestjs/common';
import { Infrastructure } from '@keel/service-runtime';
import { type Collection } from 'mongodb';

/** What the intake (the labels consumer) counted for a pipeline. */
export interface IntakeCounts {
  received: number;
  /** Repeated within an event, or sent again unchanged. */
  duplicate: number;
}

/** What the label join counted for a pipeline; only the join lease's holder writes these. */
export interface JoinCounts {
  /** Matched to a served prediction of the pipeline. */
  joined: number;
  /** Of the joined: received more than an hour, and more than a day, after the prediction was served. */
  lateOverHour: number;
  lateOverDay: number;
  /** Of the joined: for a prediction served before one whose label had already joined (same model version). */
  outOfOrder: number;
  /** A different label for a prediction already settled: the first one joined stays. */
  duplicate: number;
  /** Not served by any pipeline (within retention) once the wait ran out. */
  unknown: number;
  /** Served by another pipeline, not this one, once the wait ran out. */
  otherPipeline: number;
  /** Matched, but its label or the prediction's output cannot be scored (a non-numeric regression label). */
  invalid: number;
  /** Received, not matched yet, still within the wait. */
  waiting: number;
}

export const EMPTY_JOIN_COUNTS: JoinCounts = {
  joined: 0,
  lateOverHour: 0,
  lateOverDay: 0,
  outOfOrder: 0,
  duplicate: 0,
  unknown: 0,
  otherPipeline: 0,
  invalid: 0,
  waiting: 0,
};

type CountsDocument = { _id: string; pipelineId: string } & Partial<IntakeCounts> & Partial<JoinCounts>;

const intakeId = (pipelineId: string) => `${pipelineId}|intake`;
const joinId = (pipelineId: string) => `${pipelineId}|join`;

/**
 * Label counts per pipeline (`label_counts`): one document the intake increments (a pipeline's labels arrive on one
 * partition, so its increments never race) and one the join lease's holder sets.
 */
@Injectable()
export class LabelCountsRepository {
  private readonly counts: Collection<CountsDocument>;

  constructor(infra: Infrastructure) {
    this.counts = infra.mongo.collection<CountsDocument>('label_counts');
  }

  async addIntake(pipelineId: string, add: IntakeCounts): Promise<void> {
    await this.counts.updateOne(
      { _id: intakeId(pipelineId) },
      { $inc: { received: add.received, duplicate: add.duplicate }, $set: { pipelineId } },
      { upsert: true },
    );
  }

  async setJoin(pipelineId: string, counts: JoinCounts): Promise<void> {
    await this.counts.updateOne({ _id: joinId(pipelineId) }, { $set: { pipelineId, ...counts } }, { upsert: true });
  }

  async read(pipelineId: string): Promise<{ intake: IntakeCounts; join: JoinCounts }> {
    const [intake, join] = await Promise.all([
      this.counts.findOne({ _id: intakeId(pipelineId) }),
      this.counts.findOne({ _id: joinId(pipelineId) }),
    ]);
    return {
      intake: { received: Number(intake?.received ?? 0), duplicate: Number(intake?.duplicate ?? 0) },
      join: Object.fromEntries(
        Object.keys(EMPTY_JOIN_COUNTS).map((name) => [name, Number(join?.[name as keyof JoinCounts] ?? 0)]),
      ) as unknown as JoinCounts,
    };
  }
}
