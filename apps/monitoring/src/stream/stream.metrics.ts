import { Injectable } from '@nestjs/common';
import { MetricsService } from '@keel/service-runtime';
import { Counter, Gauge, Histogram } from 'prom-client';

/** The prediction stream's metrics on the service's /metrics. */
@Injectable()
export class StreamMetrics {
  /** Rows logged per pipeline (applied to windows once per batch id). */
  readonly predictionsLogged: Counter<'pipeline'>;
  readonly rows: Counter;
  readonly events: Counter<'outcome'>;
  /** Records behind the log's end, per partition this replica owns. */
  readonly lag: Gauge<'partition'>;
  /** Rows applied per second over the last few seconds. */
  readonly rowsPerSecond: Gauge;
  readonly checkpoints: Counter<'outcome'>;
  readonly checkpointSeconds: Histogram;
  readonly windowsClosed: Counter<'pipeline'>;
  readonly ownedPartitions: Gauge;
  /** Archive id filters found without their file by a lookup (skipped). */
  readonly archiveOrphanedFilters: Counter;

  constructor(metrics: MetricsService) {
    const registers = [metrics.registry];
    this.predictionsLogged = new Counter({
      name: 'keel_monitoring_predictions_logged_total',
      help: 'Prediction rows logged (applied to drift windows and the archive)',
      labelNames: ['pipeline'],
      registers,
    });
    this.rows = new Counter({
      name: 'keel_monitoring_prediction_rows_total',
      help: 'Prediction rows applied by the prediction stream',
      registers,
    });
    this.events = new Counter({
      name: 'keel_monitoring_prediction_events_total',
      help: 'Prediction-log records consumed, by outcome (applied, duplicate, dead-lettered)',
      labelNames: ['outcome'],
      registers,
    });
    this.lag = new Gauge({
      name: 'keel_monitoring_prediction_log_lag_records',
      help: 'Prediction-log records not yet applied, per partition owned by this replica',
      labelNames: ['partition'],
      registers,
    });
    this.rowsPerSecond = new Gauge({
      name: 'keel_monitoring_prediction_rows_per_second',
      help: 'Prediction rows applied per second over the last 10 s',
      registers,
    });
    this.checkpoints = new Counter({
      name: 'keel_monitoring_checkpoints_total',
      help: 'Prediction-stream checkpoints, by outcome (written, lost to another owner, failed)',
      labelNames: ['outcome'],
      registers,
    });
    this.checkpointSeconds = new Histogram({
      name: 'keel_monitoring_checkpoint_seconds',
      help: 'Time to write a checkpoint (window reports, archive, state, checkpoint document)',
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.windowsClosed = new Counter({
      name: 'keel_monitoring_drift_windows_closed_total',
      help: 'Drift windows that received their last row',
      labelNames: ['pipeline'],
      registers,
    });
    this.archiveOrphanedFilters = new Counter({
      name: 'keel_monitoring_archive_orphaned_filters_total',
      help: 'Prediction-archive id filters a lookup found without their file (a partly written or removed archive), skipped',
      registers,
    });
    this.ownedPartitions = new Gauge({
      name: 'keel_monitoring_prediction_partitions_owned',
      help: 'Prediction-log partitions this replica owns',
      registers,
    });
  }
}
