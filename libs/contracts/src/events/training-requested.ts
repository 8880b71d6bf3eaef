import { z } from 'zod';
import { DatasetVersionId, PipelineId } from '../common';
import { defineEvent } from '../event-contract';

/** Someone or something (drift, schedule, an engineer) asks for a new training run. */
export const TrainingRequestedV1 = defineEvent({
  topic: 'mlops.training.requested.v1',
  description: 'A request to retrain a pipeline, deduplicated by dedupeKey',
  schema: z.object({
    pipelineId: PipelineId,
    reason: z.enum(['drift', 'schedule', 'manual', 'performance', 'new-data']),
    requestedBy: z.string().min(1).max(200),
    /** Requests with the same key within the cooldown are one request. */
    dedupeKey: z.string().min(1).max(200),
    datasetVersionId: DatasetVersionId.optional(),
    details: z.string().max(2_000).optional(),
  }),
  key: (data) => data.pipelineId,
  maxBytes: 8 * 1024,
});
