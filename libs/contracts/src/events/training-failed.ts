import { z } from 'zod';
import { DatasetVersionId, FeatureSetId, PipelineId, Timestamp } from '../common';
import { defineEvent } from '../event-contract';
import { TrainingTrigger } from '../training-window';

/**
 * Training gave up on a run: the feature set could not be trained on and retrying cannot help (a failure the
 * messaging layer classes as non-retryable; the record goes to the dead-letter topic as well). The same failed
 * run delivered again is the same event (its id derives from the pipeline, the feature set and the request).
 */
export const TrainingFailedV1 = defineEvent({
  topic: 'mlops.training.failed.v1',
  description: 'A training run failed for good (a requested retrain or a new-data run); monitoring raises an alert',
  schema: z.object({
    pipelineId: PipelineId,
    datasetVersionId: DatasetVersionId,
    featureSetId: FeatureSetId,
    /** What started the run: new data, or a training request with its id. */
    trigger: TrainingTrigger,
    /** The training window the run was to see, in words (`last 4800 rows`), when features resolved one. */
    window: z.string().min(1).max(200).optional(),
    /** The error's code (`untrainable`, `invalid-training-input`, ...) and message. */
    errorCode: z.string().min(1).max(100),
    error: z.string().min(1).max(1_000),
    failedAt: Timestamp,
  }),
  key: (data) => data.pipelineId,
  maxBytes: 8 * 1024,
});
