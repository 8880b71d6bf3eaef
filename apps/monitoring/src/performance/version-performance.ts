import { type ConceptDriftDetector, type PerformanceMetrics } from '@keel/contracts';
import {
  createDetector,
  type DetectorConfig,
  type DetectorJson,
  detectorFromJson,
  type DriftDetector,
} from '@keel/ml-stats';
import { errorOf, performanceMetrics, type PerformanceTask } from './performance-metrics';

/** A label joined to its served prediction, as performance needs it. */
export interface JoinedRow {
  /** Probability of the positive label (classification) or the prediction (regression). */
  score: number;
  /** 1 positive / 0 negative (classification) or the observed value (regression). */
  label: number;
  /** Epoch ms. */
  servedAt: number;
}

/** Fixed when a version's first label joins: later spec changes apply to versions first labelled after them. */
export interface PerformanceSettings {
  task: PerformanceTask;
  windowLabels: number;
  detector: DetectorConfig;
}

export interface ConceptDriftSummary {
  detector: ConceptDriftDetector;
  detected: boolean;
  detections: number;
  statistic: number;
  threshold: number;
  errorMean: number;
}

/** A label window that received its last label. */
export interface ClosedLabelWindow {
  windowIndex: number;
  labelledCount: number;
  firstServedAt: number;
  lastServedAt: number;
  metrics: PerformanceMetrics;
  conceptDrift: ConceptDriftSummary;
  /** Its rows, for the calibration of label-free estimates. */
  scores: number[];
  labels: number[];
}

interface OpenWindowJson {
  scores: number[];
  labels: number[];
  firstServedAt: number;
  lastServedAt: number;
  detections: number;
  maxStatistic: number;
  errorSum: number;
}

/** JSON form of a version's performance state, as the repository stores it. */
export interface VersionPerformanceJson {
  format: 1;
  pipelineId: string;
  modelName: string;
  modelVersion: number;
  settings: PerformanceSettings;
  /** Labels joined so far: the next label's sequence number. */
  joined: number;
  windowIndex: number;
  maxServedAt: number;
  open: OpenWindowJson;
  /** Rows of the last closed window (the rolling view reaches back into it). */
  previous: { scores: number[]; labels: number[] };
  detector: DetectorJson;
  detectionsTotal: number;
  /** Sequence number of the label the detector last fired on. */
  lastDetectionAt?: number;
}

const emptyWindow = (): OpenWindowJson => ({
  scores: [],
  labels: [],
  firstServedAt: 0,
  lastServedAt: 0,
  detections: 0,
  maxStatistic: 0,
  errorSum: 0,
});

/**
 * Performance of one model version over its joined labels, in join order: label windows of `windowLabels` labels
 * (numbered 0, 1, 2 …) and the concept-drift detector on the error stream. Adding a row is O(1) (a window's metrics
 * are computed once, when it closes); given the same rows in the same order, the windows closed are the same,
 * whether or not the state went through toJSON/fromJSON in between.
 */
export class VersionPerformance {
  private readonly detector: DriftDetector;

  private constructor(
    private readonly state: VersionPerformanceJson,
    detector?: DriftDetector,
  ) {
    this.detector = detector ?? createDetector(state.settings.detector);
  }

  static start(
    ref: { pipelineId: string; modelName: string; modelVersion: number },
    settings: PerformanceSettings,
  ): VersionPerformance {
    const performance = new VersionPerformance({
      format: 1,
      ...ref,
      settings,
      joined: 0,
      windowIndex: 0,
      maxServedAt: 0,
      open: emptyWindow(),
      previous: { scores: [], labels: [] },
      detector: createDetector(settings.detector).toJSON(),
      detectionsTotal: 0,
    });
    return performance;
  }

  static fromJSON(json: VersionPerformanceJson): VersionPerformance {
    return new VersionPerformance(structuredClone(json), detectorFromJson(json.detector));
  }

  get ref(): { pipelineId: string; modelName: string; modelVersion: number } {
    const { pipelineId, modelName, modelVersion } = this.state;
    return { pipelineId, modelName, modelVersion };
  }

  get settings(): PerformanceSettings {
    return this.state.settings;
  }

  /** Labels joined so far (the next label's sequence number). */
  get joined(): number {
    return this.state.joined;
  }

  get detectionsTotal(): number {
    return this.state.detectionsTotal;
  }

  get lastDetectionAt(): number | undefined {
    return this.state.lastDetectionAt;
  }

  /**
   * Adds the next joined label. Returns the window it closed, if any, and whether it came out of order (its
   * prediction was served before one whose label joined earlier).
   */
  add(row: JoinedRow): { closed?: ClosedLabelWindow; outOfOrder: boolean } {
    const { state } = this;
    const { task, windowLabels } = state.settings;
    const outOfOrder = row.servedAt < state.maxServedAt;
    state.maxServedAt = Math.max(state.maxServedAt, row.servedAt);
    const open = state.open;
    const first = open.scores.length === 0;
    open.scores.push(row.score);
    open.labels.push(row.label);
    open.firstServedAt = first ? row.servedAt : Math.min(open.firstServedAt, row.servedAt);
    open.lastServedAt = first ? row.servedAt : Math.max(open.lastServedAt, row.servedAt);
    const error = errorOf(task, row.score, row.label);
    open.errorSum += error;
    const fired = this.detector.update(error);
    open.maxStatistic = Math.max(open.maxStatistic, this.detector.statistic);
    if (fired) {
      open.detections += 1;
      state.detectionsTotal += 1;
      state.lastDetectionAt = state.joined;
    }
    state.joined += 1;
    if (open.scores.length < windowLabels) return { outOfOrder };
    const closed: ClosedLabelWindow = {
      windowIndex: state.windowIndex,
      labelledCount: open.scores.length,
      firstServedAt: open.firstServedAt,
      lastServedAt: open.lastServedAt,
      metrics: performanceMetrics(task, open.scores, open.labels),
      conceptDrift: {
        detector: state.settings.detector.kind,
        detected: open.detections > 0,
        detections: open.detections,
        statistic: open.maxStatistic,
        threshold: this.detector.threshold,
        errorMean: open.errorSum / open.scores.length,
      },
      scores: open.scores,
      labels: open.labels,
    };
    state.previous = { scores: open.scores, labels: open.labels };
    state.open = emptyWindow();
    state.windowIndex += 1;
    return { closed, outOfOrder };
  }

  /** Performance over the last `windowLabels` joined labels (fewer while fewer have joined). */
  rolling(): { labelledCount: number; metrics: PerformanceMetrics; conceptDrift: ConceptDriftSummary } {
    const { open, previous, settings } = this.state;
    const take = Math.max(0, settings.windowLabels - open.scores.length);
    const scores = [...previous.scores.slice(previous.scores.length - take), ...open.scores];
    const labels = [...previous.labels.slice(previous.labels.length - take), ...open.labels];
    return {
      labelledCount: scores.length,
      metrics: performanceMetrics(settings.task, scores, labels),
      conceptDrift: {
        detector: settings.detector.kind,
        detected: open.detections > 0,
        detections: open.detections,
        statistic: open.maxStatistic,
        threshold: this.detector.threshold,
        errorMean: open.scores.length > 0 ? open.errorSum / open.scores.length : 0,
      },
    };
  }

  /** Rows of the last closed window (for calibrating label-free estimates); empty before the first closes. */
  lastClosedRows(): { scores: readonly number[]; labels: readonly number[] } {
    return this.state.previous;
  }

  toJSON(): VersionPerformanceJson {
    return { ...this.state, detector: this.detector.toJSON() };
  }
}
