import { z } from 'zod';
import { PipelineId, Timestamp } from '../common';
import { defineEvent } from '../event-contract';

/** Ground truth for earlier predictions, joined by prediction id. */
export const LabelReceivedV1 = defineEvent({
  topic: 'mlops.labels.received.v1',
  description: 'Observed outcomes for earlier predictions',
  schema: z.object({
    pipelineId: PipelineId,
    labels: z
      .array(
        z.object({
          predictionId: z.string().min(1),
          label: z.union([z.number(), z.string()]),
          observedAt: Timestamp,
        }),
      )
      .min(1)
      .max(10_000),
  }),
  key: (data) => data.pipelineId,
  maxBytes: 1024 * 1024,
});
