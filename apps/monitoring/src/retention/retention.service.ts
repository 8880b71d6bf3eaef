import { Inject, Injectable, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { type Leases, leasesOn, processHolderId, tombstonesBefore, withLease } from '@keel/coordination';
import {
  Infrastructure,
  ROOT_LOGGER,
  SERVICE_CONFIG,
  SERVICE_IDENTITY,
  type ServiceIdentity,
} from '@keel/service-runtime';
import { type Logger } from 'pino';
import { type MonitoringConfig } from '../config';
import { DriftWindowRepository } from '../drift/drift-window.repository';
import { PredictionArchive } from '../archive/prediction-archive';
import { COUNTER_REVISIONS } from '../drift/window-counter.repository';
import { LabelLogRepository } from '../labels/label-log.repository';
import { PredictionLogRepository } from '../predictions/prediction-log.repository';
import { LabelRetention, type LabelSweepOutcome } from './label-retention';

const HOUR_MS = 60 * 60 * 1000;
/** One replica sweeps at a time; a sweep that dies frees the lease after this. */
const SWEEP_LEASE_TTL_MS = 5 * 60 * 1000;
export const RETENTION_LEASE = 'monitoring-retention';
/** Monitoring's record of the background migrations it finished (`_id` = migration name). */
const MIGRATIONS = 'monitoring_migrations';
const PIPELINE_SCOPED_KEYS = 'pipeline-scoped-prediction-keys';

/** What one sweep deleted. */
export interface SweepOutcome extends LabelSweepOutcome {
  /** Objects of the prediction archive (batch files and their id filters). */
  archivedObjects: number;
  predictionLogs: number;
  labels: number;
  driftWindows: number;
}

/**
 * Retention (the store has no TTL indexes: docs/design/repositories.md): every RETENTION_SWEEP_INTERVAL_MS, the
 * replica that holds the retention lease deletes the days of the prediction archive, prediction logs of earlier
 * releases, labels (stored and pending), join outcomes, label windows and idle performance states, and closed drift
 * windows older than their configured ages, the label counts of pipelines with no label left, and the superseded
 * revisions of counters and windows. After start-up it first moves logs and labels stored under older keys to the
 * pipeline-scoped ones, in the background.
 */
@Injectable()
export class RetentionService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger: Logger;
  private readonly leases: Leases;
  private readonly holder: string;
  private timer?: NodeJS.Timeout;
  private running: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly infra: Infrastructure,
    private readonly predictionLogs: PredictionLogRepository,
    private readonly archive: PredictionArchive,
    private readonly labels: LabelLogRepository,
    private readonly windows: DriftWindowRepository,
    private readonly labelRetention: LabelRetention,
    @Inject(SERVICE_CONFIG) private readonly config: MonitoringConfig,
    @Inject(ROOT_LOGGER) logger: Logger,
    @Inject(SERVICE_IDENTITY) identity: ServiceIdentity,
  ) {
    this.logger = logger.child({ component: 'retention' });
    this.leases = leasesOn(infra.mongo);
    this.holder = processHolderId(identity.name);
  }

  onApplicationBootstrap(): void {
    this.running = this.migrate();
    this.timer = setInterval(() => {
      this.running = this.running.then(() => this.sweepUnderLease());
    }, this.config.RETENTION_SWEEP_INTERVAL_MS);
    this.timer.unref();
  }

  async onModuleDestroy(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** Deletes what is older than the configured retention (a few scans, off the hot path). */
  async sweep(now = new Date()): Promise<SweepOutcome> {
    const before = (hours: number) => new Date(now.getTime() - hours * HOUR_MS);
    const windowCutoff = before(this.config.DRIFT_WINDOW_RETENTION_HOURS);
    const predictions = this.config.PREDICTION_LOG_RETENTION_HOURS;
    const labelCutoff = before(this.config.LABEL_LOG_RETENTION_HOURS);
    const outcome: SweepOutcome = {
      archivedObjects: await this.archive.deleteBefore(before(predictions)),
      predictionLogs: await this.predictionLogs.deleteLoggedBefore(before(predictions)),
      labels: await this.labels.deleteReceivedBefore(labelCutoff),
      driftWindows: await this.windows.deleteClosedBefore(windowCutoff),
      ...(await this.labelRetention.sweep({
        // A join outcome outlives its prediction's archive, so a label sent again still finds it.
        joins: before(Math.max(this.config.LABEL_JOIN_RETENTION_HOURS, predictions)),
        labels: labelCutoff,
        performance: before(this.config.PERFORMANCE_RETENTION_HOURS),
      })),
    };
    await this.infra.mongo.collection(COUNTER_REVISIONS).deleteMany(tombstonesBefore(windowCutoff));
    return outcome;
  }

  private async sweepUnderLease(): Promise<void> {
    try {
      const outcome = await withLease(this.leases, RETENTION_LEASE, this.holder, SWEEP_LEASE_TTL_MS, () =>
        this.sweep(),
      );
      if (outcome.held) this.logger.info(outcome.value, 'retention sweep done');
    } catch (error) {
      this.logger.error({ err: error }, 'retention sweep failed; retrying on the next interval');
    }
  }

  /** Once per database: a marker in MIGRATIONS records that the scan found nothing left to move. */
  private async migrate(): Promise<void> {
    const migrations = this.infra.mongo.collection<{ _id: string; doneAt: Date }>(MIGRATIONS);
    try {
      if (await migrations.findOne({ _id: PIPELINE_SCOPED_KEYS })) return;
      const moved = await this.predictionLogs.migrateLegacyKeys();
      await this.labels.migrateLegacyKeys();
      if (moved > 0) this.logger.info({ moved }, 'prediction logs moved to pipeline-scoped keys');
      await migrations.updateOne({ _id: PIPELINE_SCOPED_KEYS }, { $set: { doneAt: new Date() } }, { upsert: true });
    } catch (error) {
      this.logger.error({ err: error }, 'moving logs to pipeline-scoped keys failed; the next start-up resumes it');
    }
  }
}
