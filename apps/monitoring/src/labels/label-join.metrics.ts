import { Injectable } from '@nestjs/common';
import { MetricsService } from '@keel/service-runtime';
import { Counter, Gauge, Histogram } from 'prom-client';

/** The label intake's and join's metrics on the service's /metrics. */
@Injectable()
export class LabelJoinMetrics {
  readonly received: Counter<'pipeline'>;
  /**
   * Labels by how the join settled them: joined, duplicate, unknown, other-pipeline; late and out-of-order joins;
   * unknown-class (multiclass: joined with a class outside the declared ones).
   */
  readonly outcomes: Counter<'pipeline' | 'outcome'>;
  /** Labels received and not matched yet, within the wait. */
  readonly waiting: Gauge<'pipeline'>;
  /** From serving a prediction to its label's arrival. */
  readonly delaySeconds: Histogram<'pipeline'>;
  readonly rounds: Counter<'result'>;
  readonly roundSeconds: Histogram;

  constructor(metrics: MetricsService) {
    const registers = [metrics.registry];
    this.received = new Counter({
      name: 'keel_monitoring_labels_received_total',
      help: 'Labels received on mlops.labels.received.v1',
      labelNames: ['pipeline'],
      registers,
    });
    this.outcomes = new Counter({
      name: 'keel_monitoring_labels_total',
      help: 'Labels by outcome: joined, duplicate, unknown, other-pipeline; late-hour, late-day and out-of-order joins; unknown-class (multiclass label outside the declared classes)',
      labelNames: ['pipeline', 'outcome'],
      registers,
    });
    this.waiting = new Gauge({
      name: 'keel_monitoring_labels_waiting',
      help: 'Labels received whose prediction is not archived yet (within LABEL_JOIN_WAIT_MS)',
      labelNames: ['pipeline'],
      registers,
    });
    this.delaySeconds = new Histogram({
      name: 'keel_monitoring_label_delay_seconds',
      help: 'Time from serving a prediction to receiving its label',
      labelNames: ['pipeline'],
      buckets: [1, 10, 60, 600, 3_600, 6 * 3_600, 86_400, 3 * 86_400, 7 * 86_400, 30 * 86_400],
      registers,
    });
    this.rounds = new Counter({
      name: 'keel_monitoring_label_join_rounds_total',
      help: 'Label-join rounds by result (done, failed)',
      labelNames: ['result'],
      registers,
    });
    this.roundSeconds = new Histogram({
      name: 'keel_monitoring_label_join_round_seconds',
      help: 'Time of one label-join round (all pipelines with waiting labels)',
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
  }
}
