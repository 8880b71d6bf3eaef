import { z } from 'zod';
import { FeatureSetId, ObjectUri, PipelineId, Sha256 } from '../common';
import { defineEvent } from '../event-contract';
import { SnapshotRef, TrainingTrigger } from '../training-window';

/** Training finished a run and wrote a model package (model, fitted transform, signature, metrics, lineage). */
export const ModelTrainedV1 = defineEvent({
  topic: 'mlops.model.trained.v1',
  description: 'A training run produced a model package evaluated on a holdout',
  schema: z.object({
    pipelineId: PipelineId,
    runId: z.string().min(1),
    algorithm: z.string().min(1),
    packageUri: ObjectUri,
    packageSha256: Sha256,
    /** Holdout metrics by name (auc, f1, rmse, ...). */
    metrics: z.record(z.string().min(1), z.number()),
    datasetSha256: Sha256,
    featureSetId: FeatureSetId,
    featureSetSha256: Sha256,
    /** Where the feature set lies: the registry evaluates candidate and champion on its holdout rows. */
    featureSetUri: ObjectUri.optional(),
    /** The training window the model saw. */
    snapshot: SnapshotRef.optional(),
    trigger: TrainingTrigger.optional(),
    /**
     * Every algorithm the run judged on the holdout, the chosen one included, each with its experiment run id in
     * training (`GET /api/v1/pipelines/<id>/runs/<runId>` on training).
     */
    candidates: z
      .array(
        z.object({
          algorithm: z.string().min(1),
          runId: z.string().min(1),
          metrics: z.record(z.string().min(1), z.number()),
          /** With a search: the primary metric of its best trial on the validation split. */
          validationScore: z.number().optional(),
          chosen: z.boolean(),
        }),
      )
      .max(16)
      .optional(),
  }),
  key: (data) => data.pipelineId,
  maxBytes: 16 * 1024,
});
