import { z } from 'zod';
import { ModelVersionNumber, PipelineId, Scalar, Timestamp } from '../common';
import { defineEvent } from '../event-contract';

/** Serving answered an inference request; one event per request, one entry per row. */
export const PredictionLoggedV1 = defineEvent({
  topic: 'mlops.predictions.logged.v1',
  description: 'Predictions served for one inference request, with their inputs, for monitoring',
  schema: z.object({
    pipelineId: PipelineId,
    requestId: z.string().min(1),
    modelName: z.string().min(1),
    modelVersion: ModelVersionNumber,
    servedAt: Timestamp,
    predictions: z
      .array(
        z.object({
          /** Join key for labels that arrive later. */
          predictionId: z.string().min(1),
          inputs: z.record(z.string().min(1), Scalar),
          outputs: z.record(z.string().min(1), z.union([z.number(), z.string()])),
        }),
      )
      .min(1)
      .max(1_000),
  }),
  key: (data) => data.pipelineId,
  maxBytes: 1024 * 1024,
});
