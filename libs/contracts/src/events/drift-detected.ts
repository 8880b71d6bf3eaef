import { z } from 'zod';
import { DriftStatisticName, ModelVersionNumber, PipelineId, Timestamp } from '../common';
import { defineEvent } from '../event-contract';

/** Monitoring found drift above the pipeline's thresholds in a window of served traffic. */
export const DriftDetectedV1 = defineEvent({
  topic: 'mlops.drift.detected.v1',
  description: 'Feature or prediction drift above threshold in a monitoring window',
  schema: z.object({
    pipelineId: PipelineId,
    modelName: z.string().min(1),
    modelVersion: ModelVersionNumber,
    windowStart: Timestamp,
    windowEnd: Timestamp,
    rowCount: z.number().int().positive(),
    /** The window's number within the model version (`<pipelineId>|<modelVersion>|<windowIndex>` names it). */
    windowIndex: z.number().int().nonnegative().optional(),
    /** How the pipeline's windows are cut: by row count, or by served time. */
    windowBy: z.enum(['rows', 'time']).optional(),
    drifted: z
      .array(
        z.object({
          /** The feature, or the model output when `target` is `prediction`. */
          feature: z.string().min(1),
          /** What drifted: an input feature (the default) or a model output (prediction drift). */
          target: z.enum(['feature', 'prediction']).optional(),
          statistic: DriftStatisticName,
          /** The statistic's value: a distance (drift at or above `threshold`) or, for ks and chi2, a p-value (drift below it). */
          value: z.number(),
          threshold: z.number(),
          pValue: z.number().min(0).max(1).optional(),
        }),
      )
      .min(1),
  }),
  key: (data) => data.pipelineId,
  maxBytes: 64 * 1024,
});
