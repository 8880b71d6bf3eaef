import { Injectable, type OnApplicationBootstrap, type OnModuleInit } from '@nestjs/common';
import {
  type EventData,
  ModelRolloutObservedV1,
  ROLLOUT_LATENCY_BOUNDS_MS,
  type RolloutVersionObservation,
} from '@keel/contracts';
import { Infrastructure } from '@keel/service-runtime';

export const ROLLOUT_OBSERVATIONS_COLLECTION = 'rollout_observations';

/** Most prediction samples per version kept for one step's analysis (a uniform subsample beyond it). */
export const STEP_SAMPLE_MAX = 5_000;

const DUPLICATE_KEY = 11000;

/** One version's traffic over a rollout step, summed over serving instances and report intervals. */
export interface VersionTotals {
  version: number;
  requests: number;
  errors: number;
  latencyCounts: number[];
  output?: string;
  samples: number[];
}

/** What serving saw of one rollout revision (one step), all instances together. */
export interface StepObservations {
  reports: number;
  baseline?: VersionTotals;
  candidate?: VersionTotals;
  shadow: { rows: number; agreed: number };
}

type StoredObservation = EventData<typeof ModelRolloutObservedV1> & { _id: string; receivedAt: Date };

/** Sums reports of one step; samples beyond STEP_SAMPLE_MAX are thinned to a uniform subsample. */
export function sumObservations(reports: readonly EventData<typeof ModelRolloutObservedV1>[]): StepObservations {
  const totals: StepObservations = { reports: reports.length, shadow: { rows: 0, agreed: 0 } };
  for (const report of reports) {
    for (const seen of report.versions) addTo(totals, seen);
    if (report.shadow) {
      totals.shadow.rows += report.shadow.rows;
      totals.shadow.agreed += report.shadow.agreed;
    }
  }
  for (const side of [totals.baseline, totals.candidate]) {
    if (side && side.samples.length > STEP_SAMPLE_MAX) side.samples = thin(side.samples, STEP_SAMPLE_MAX);
  }
  return totals;
}

function addTo(totals: StepObservations, seen: RolloutVersionObservation): void {
  const side = (totals[seen.role] ??= {
    version: seen.version,
    requests: 0,
    errors: 0,
    latencyCounts: new Array<number>(ROLLOUT_LATENCY_BOUNDS_MS.length + 1).fill(0),
    samples: [],
  });
  side.requests += seen.requests;
  side.errors += seen.errors;
  seen.latencyCounts.forEach((count, bucket) => (side.latencyCounts[bucket] += count));
  // Samples of another output (a candidate whose signature changed) cannot be compared with the first one's.
  if (seen.output !== undefined && (side.output ?? seen.output) === seen.output) {
    side.output = seen.output;
    for (const value of seen.samples) side.samples.push(value);
  }
}

/** Every k-th value, k chosen so that at most `max` remain: order-preserving and deterministic. */
function thin(values: number[], max: number): number[] {
  const stride = values.length / max;
  return Array.from({ length: max }, (_, i) => values[Math.floor(i * stride)]);
}

/**
 * Serving's reports of rollout steps (`mlops.model.rollout-observed.v1`), stored once each (the CloudEvent id is the
 * key) and read back per rollout revision by the analysis: a revision is one step, so baseline and candidate are
 * judged on the same traffic window.
 */
@Injectable()
export class RolloutObservationsStore implements OnModuleInit, OnApplicationBootstrap {
  constructor(private readonly infra: Infrastructure) {}

  async onModuleInit(): Promise<void> {
    await this.collection().createIndex({ rolloutId: 1, revision: 1 });
  }

  async onApplicationBootstrap(): Promise<void> {
    const consumer = this.infra.createConsumer('rollout-observations');
    consumer.on(ModelRolloutObservedV1, async (event) => void (await this.save(event.id, event.data)));
    await consumer.start();
  }

  async save(id: string, data: EventData<typeof ModelRolloutObservedV1>): Promise<void> {
    try {
      await this.collection().insertOne({ ...data, _id: id, receivedAt: new Date() });
    } catch (error) {
      if ((error as { code?: number }).code !== DUPLICATE_KEY) throw error;
    }
  }

  /** The step's reports so far, summed. */
  async step(rolloutId: string, revision: number): Promise<StepObservations> {
    const reports = await this.collection()
      .find({ rolloutId, revision }, { projection: { _id: 0, receivedAt: 0 } })
      .sort({ intervalEnd: 1 })
      .toArray();
    return sumObservations(reports);
  }

  private collection() {
    return this.infra.mongo.collection<StoredObservation>(ROLLOUT_OBSERVATIONS_COLLECTION);
  }
}
