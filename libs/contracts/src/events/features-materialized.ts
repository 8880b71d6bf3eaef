import { z } from 'zod';
import { DatasetVersionId, FeatureSetId, ObjectUri, PipelineId, Sha256 } from '../common';
import { defineEvent } from '../event-contract';
import { SnapshotRef, TrainingTrigger } from '../training-window';

/** Features fitted its transforms on the training split and wrote the materialized feature set. */
export const FeaturesMaterializedV1 = defineEvent({
  topic: 'mlops.features.materialized.v1',
  description: 'A feature set and its fitted transform were materialized from a validated dataset version',
  schema: z.object({
    pipelineId: PipelineId,
    datasetVersionId: DatasetVersionId,
    datasetSha256: Sha256,
    featureSetId: FeatureSetId,
    featureSetUri: ObjectUri,
    featureSetSha256: Sha256,
    /** The fitted transform travels with the model, so serving applies exactly what training saw. */
    transformUri: ObjectUri,
    transformSha256: Sha256,
    rowCounts: z.object({
      train: z.number().int().nonnegative(),
      validation: z.number().int().nonnegative(),
      holdout: z.number().int().nonnegative(),
    }),
    /**
     * The training window the feature set was built from (absent from producers that built it from one version).
     * datasetVersionId and datasetSha256 then name the snapshot's newest version.
     */
    snapshot: SnapshotRef.optional(),
    /** Why it was built: new data (absent means new data too) or a training request. */
    trigger: TrainingTrigger.optional(),
  }),
  key: (data) => data.pipelineId,
  maxBytes: 16 * 1024,
});
