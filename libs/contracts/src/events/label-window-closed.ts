import { z } from 'zod';
import { ModelVersionNumber, PipelineId, Timestamp } from '../common';
import { defineEvent } from '../event-contract';

/**
 * Performance of one window of labelled predictions. A metric is absent where it is undefined on the window (AUC
 * with one class only; classification metrics on a regression pipeline and the reverse).
 */
export const PerformanceMetrics = z.object({
  accuracy: z.number().min(0).max(1).optional(),
  precision: z.number().min(0).max(1).optional(),
  recall: z.number().min(0).max(1).optional(),
  f1: z.number().min(0).max(1).optional(),
  /** Multiclass: F1 averaged over the classes seen in the window, unweighted (scikit-learn's average='macro'). */
  f1_macro: z.number().min(0).max(1).optional(),
  auc: z.number().min(0).max(1).optional(),
  rmse: z.number().nonnegative().optional(),
  mae: z.number().nonnegative().optional(),
});
export type PerformanceMetrics = z.infer<typeof PerformanceMetrics>;

/** Detectors of concept drift run on a model version's error stream (0/1 errors, or absolute errors). */
export const ConceptDriftDetector = z.enum(['adwin', 'page-hinkley']);
export type ConceptDriftDetector = z.infer<typeof ConceptDriftDetector>;

/**
 * Monitoring closed a window of labelled predictions of one model version: the window's last label joined. Windows
 * are numbered 0, 1, 2 … per pipeline and model version in the order labels joined; each holds the pipeline's
 * `performance.windowLabels` joined labels. Published once per window under the CloudEvent id
 * `label-window-<pipelineId>-v<modelVersion>-<windowIndex>`, so a republish after a crash is the same event.
 */
export const LabelWindowClosedV1 = defineEvent({
  topic: 'mlops.label-window.closed.v1',
  description: 'A window of labelled predictions closed: realized and estimated performance, concept drift',
  schema: z.object({
    pipelineId: PipelineId,
    modelName: z.string().min(1),
    modelVersion: ModelVersionNumber,
    task: z.enum(['binary-classification', 'multiclass-classification', 'regression']),
    windowIndex: z.number().int().nonnegative(),
    /** Labels joined in the window. */
    labelledCount: z.number().int().positive(),
    /** Earliest and latest servedAt of the window's predictions (data time, not when the labels came). */
    firstServedAt: Timestamp,
    lastServedAt: Timestamp,
    /** Realized performance on the window's labels. */
    metrics: PerformanceMetrics,
    /**
     * Multiclass: labels of the window outside the spec's declared classes. Each is joined and scored as an error
     * (no served prediction can equal it) and is a class of its own in f1_macro, as scikit-learn counts it.
     */
    unknownClassLabels: z.number().int().nonnegative().optional(),
    /**
     * Label-free estimate (CBPE, binary classification only) for the version's served predictions still waiting for
     * labels when the window closed, calibrated on this window's labels; absent when none wait or the task is
     * regression.
     */
    estimated: z
      .object({
        method: z.literal('cbpe'),
        /** Predictions the estimate covers (the newest ones without a label, up to windowLabels). */
        rows: z.number().int().positive(),
        metrics: PerformanceMetrics,
      })
      .optional(),
    /** Concept drift on the version's error stream, up to and including this window. */
    conceptDrift: z.object({
      detector: ConceptDriftDetector,
      /** True when the detector fired on one of this window's labels. */
      detected: z.boolean(),
      /** Detections within this window. */
      detections: z.number().int().nonnegative(),
      /**
       * The detector's test statistic, largest over the window. ADWIN: the largest |mean(older) − mean(newer)| over
       * the cuts it checked, divided by that cut's bound ε (fires above 1). Page-Hinkley: the largest cumulative
       * deviation m_T − min m_t (or its mirror for a decrease) (fires above `threshold`).
       */
      statistic: z.number().nonnegative(),
      /** Where the statistic fires: 1 for ADWIN (the ratio to ε), λ for Page-Hinkley. */
      threshold: z.number().positive(),
      /** Mean of the error stream over the window: 1 − accuracy, or the mean absolute error. */
      errorMean: z.number().nonnegative(),
    }),
  }),
  key: (data) => data.pipelineId,
  maxBytes: 16 * 1024,
});
