import {
  Inject,
  Injectable,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
  type OnModuleInit,
} from '@nestjs/common';
import {
  type EventData,
  FINAL_ROLLOUT_STATES,
  ModelRolloutObservedV1,
  ROLLOUT_LATENCY_BOUNDS_MS,
  type RolloutGroupObservation,
  type RolloutVersionObservation,
} from '@keel/contracts';
import { Infrastructure, ROOT_LOGGER, SERVICE_CONFIG } from '@keel/service-runtime';
import { type Logger } from 'pino';
import { type RegistryConfig } from '../config';
import { ROLLOUT_HEADS_COLLECTION } from './rollouts.service';

export const ROLLOUT_OBSERVATIONS_COLLECTION = 'rollout_observations';

/** Most prediction samples per version kept for one step's analysis (a uniform subsample beyond it). */
export const STEP_SAMPLE_MAX = 5_000;

const DUPLICATE_KEY = 11000;

/** How often old reports are swept. */
const SWEEP_INTERVAL_MS = 3_600_000;

/** One version's traffic over a rollout step, summed over serving instances and report intervals. */
export interface VersionTotals {
  version: number;
  requests: number;
  errors: number;
  latencyCounts: number[];
  output?: string;
  samples: number[];
  /** Rows and positive predictions per protected attribute and group, summed. */
  groups: RolloutGroupObservation[];
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
    groups: [],
  });
  side.requests += seen.requests;
  side.errors += seen.errors;
  seen.latencyCounts.forEach((count, bucket) => (side.latencyCounts[bucket] += count));
  for (const group of seen.groups ?? []) {
    const held = side.groups.find((g) => g.attribute === group.attribute && g.group === group.group);
    if (held) {
      held.rows += group.rows;
      held.positives += group.positives;
    } else side.groups.push({ ...group });
  }
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
 * judged on the same traffic window. Reports of rollouts no longer active are swept after
 * ROLLOUT_OBSERVATION_RETENTION_HOURS (every replica may sweep: deleting twice deletes nothing more).
 */
@Injectable()
export class RolloutObservationsStore implements OnModuleInit, OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger: Logger;
  private sweeper?: NodeJS.Timeout;

  constructor(
    private readonly infra: Infrastructure,
    @Inject(SERVICE_CONFIG) private readonly config: RegistryConfig,
    @Inject(ROOT_LOGGER) logger: Logger,
  ) {
    this.logger = logger.child({ component: 'rollout-observations' });
  }

  async onModuleInit(): Promise<void> {
    await this.collection().createIndex({ rolloutId: 1, revision: 1 });
    await this.collection().createIndex({ receivedAt: 1 });
  }

  onModuleDestroy(): void {
    clearInterval(this.sweeper);
  }

  async onApplicationBootstrap(): Promise<void> {
    const consumer = this.infra.createConsumer('rollout-observations');
    consumer.on(ModelRolloutObservedV1, async (event) => void (await this.save(event.id, event.data)));
    await consumer.start();
    this.sweeper = setInterval(() => {
      this.sweep().catch((error: unknown) => this.logger.warn({ err: error }, 'rollout observation sweep failed'));
    }, SWEEP_INTERVAL_MS);
    this.sweeper.unref();
  }

  /**
   * Deletes reports received before `now` minus the retention, except those of rollouts still active (staging,
   * progressing, paused: their analysis reads them). Answers how many it deleted.
   */
  async sweep(now = new Date()): Promise<number> {
    const cutoff = new Date(now.getTime() - this.config.ROLLOUT_OBSERVATION_RETENTION_HOURS * 3_600_000);
    const active = await this.infra.mongo
      .collection<{ rolloutId?: string }>(ROLLOUT_HEADS_COLLECTION)
      .find({ state: { $nin: [...FINAL_ROLLOUT_STATES] } }, { projection: { rolloutId: 1 } })
      .toArray();
    const keep = active.map((head) => head.rolloutId).filter((id): id is string => typeof id === 'string');
    const { deletedCount } = await this.collection().deleteMany({
      receivedAt: { $lt: cutoff },
      ...(keep.length > 0 ? { rolloutId: { $nin: keep } } : {}),
    });
    if (deletedCount > 0) this.logger.info({ deleted: deletedCount, before: cutoff }, 'old rollout reports swept');
    return deletedCount;
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
