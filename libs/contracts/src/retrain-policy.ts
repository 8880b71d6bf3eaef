import { z } from 'zod';
import { Duration } from './training-window';

/** Metrics of a closed label window (mlops.label-window.closed.v1) a performance drop may watch. */
const WindowMetricName = z.enum(['accuracy', 'precision', 'recall', 'f1', 'f1_macro', 'auc', 'rmse', 'mae']);

/**
 * When monitoring asks for a retrain, per pipeline (the spec's `retrainPolicy`). Triggers say which signals may fire a
 * request; the cooldown and the daily cap bound how often any of them do. Spacing is counted in rows of new data (the
 * rows of validated dataset versions the pipeline received), in data time (the time the signals report: a drift or
 * label window's end) and optionally in wall time, so a replay at any speed decides as the live run did when the
 * policy counts rows or data time.
 */
export const RetrainPolicy = z.object({
  triggers: z
    .object({
      /** A drift window with at least `minFeatures` drifted input features. */
      featureDrift: z
        .object({ enabled: z.boolean().default(true), minFeatures: z.number().int().positive().default(1) })
        .prefault({}),
      /** A drift window where the model's output drifted. */
      predictionDrift: z.object({ enabled: z.boolean().default(true) }).prefault({}),
      /** A labelled window whose `metric` fell below `below` (off unless `below` is given). Multiclass: accuracy or f1_macro. */
      performanceDrop: z
        .object({
          metric: WindowMetricName.default('accuracy'),
          /** For rmse and mae: fires above this instead. */
          below: z.number().optional(),
          above: z.number().optional(),
          /** Labelled rows a window needs before its metric counts. */
          minRows: z.number().int().positive().default(100),
        })
        .prefault({}),
      /** The concept-drift detector on the labelled error stream fired. */
      conceptDrift: z.object({ enabled: z.boolean().default(true) }).prefault({}),
      /** A retrain every so many rows of new data, or every so much data time, whatever else happened. */
      schedule: z
        .object({ everyRows: z.number().int().positive().optional(), every: Duration.optional() })
        .refine((s) => s.everyRows !== undefined || s.every !== undefined, 'a schedule needs everyRows or every')
        .optional(),
      /** A retrain once this many rows of new data arrived since the last one. */
      newData: z.object({ rows: z.number().int().positive() }).optional(),
    })
    .prefault({}),
  /** After a retrain fires, later triggers are suppressed until every given bound has passed. */
  cooldown: z
    .object({
      rows: z.number().int().nonnegative().default(0),
      dataTime: Duration.optional(),
      wallTime: Duration.optional(),
    })
    .prefault({}),
  /**
   * At most `max` retrains per day: a day of data time, or `dayRows` rows of new data when given (48 half-hourly rows
   * is a day of Elec2), so a replay counts days as the live run did.
   */
  dailyCap: z
    .object({ max: z.number().int().positive().default(4), dayRows: z.number().int().positive().optional() })
    .prefault({}),
});
export type RetrainPolicy = z.infer<typeof RetrainPolicy>;

/** Where a pipeline's alerts go besides the alerts topic (the spec's `alerts`). */
export const AlertsSpec = z.object({
  enabled: z.boolean().default(true),
  /** Kinds not to raise for this pipeline. */
  mute: z
    .array(
      z.enum([
        'feature-drift',
        'prediction-drift',
        'performance-drop',
        'concept-drift',
        'dataset-rejected',
        'training-failed',
        'gate-rejected',
        'rollout-rolled-back',
      ]),
    )
    .default([]),
  /** A labelled window whose metric is past this bound raises a performance-drop alert (default: the policy's). */
  performanceDrop: z
    .object({
      metric: WindowMetricName,
      below: z.number().optional(),
      above: z.number().optional(),
    })
    .optional(),
});
export type AlertsSpec = z.infer<typeof AlertsSpec>;
