import { z } from 'zod';
import { ModelVersionNumber, PipelineId, Timestamp } from '../common';
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
    drifted: z
      .array(
        z.object({
          feature: z.string().min(1),
          statistic: z.enum(['psi', 'ks', 'chi2', 'jensen-shannon', 'wasserstein']),
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
