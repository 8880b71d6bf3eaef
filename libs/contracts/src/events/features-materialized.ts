import { z } from 'zod';
import { DatasetVersionId, FeatureSetId, ObjectUri, PipelineId, Sha256 } from '../common';
import { defineEvent } from '../event-contract';
import { MAX_JOINS } from '../point-in-time-joins';
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
    /**
     * The point-in-time joins its rows were built with (absent without joins, and from producers before it), one per
     * joined table: the join definition's hash (joinDefinitionSha256), which names the online view serving fills a
     * model trained on this feature set from (`mlops.features.online-view.v1`'s joinSha256, the model signature's
     * `joins[].joinSha256`), and the table's version its cut reached (0: none yet, the joined features missing).
     */
    joins: z
      .array(
        z.object({
          tablePipelineId: PipelineId,
          joinSha256: Sha256,
          upToSequence: z.number().int().nonnegative(),
        }),
      )
      .max(MAX_JOINS)
      .optional(),
  }),
  key: (data) => data.pipelineId,
  maxBytes: 16 * 1024,
});
