import { z } from 'zod';
import { DatasetVersionId, ObjectUri, PipelineId, Sha256 } from '../common';
import { defineEvent } from '../event-contract';

/**
 * Features built the online view of a feature table a pipeline joins (its `joins`): per entity, the latest values as
 * of the table's newest validated version, which serving answers requests from (Feast's online store). The view is
 * stored content-addressed; features also records it as the current one (libs/pipelines OnlineViewStore), which
 * serving reads at start and when this event says it moved.
 */
export const OnlineViewUpdatedV1 = defineEvent({
  topic: 'mlops.features.online-view.v1',
  description: "A pipeline's online view of a joined feature table was rebuilt from the table's newest version",
  schema: z.object({
    /** The pipeline that joins the table (whose models serving fills the joined features for). */
    pipelineId: PipelineId,
    /** The feature table's pipeline. */
    tablePipelineId: PipelineId,
    /** The table's newest validated version the view includes, and its place in the table's chain. */
    upToDatasetVersionId: DatasetVersionId,
    sequence: z.number().int().positive(),
    viewUri: ObjectUri,
    viewSha256: Sha256,
    /** The join definition the view was built for (joinDefinitionSha256); absent in views built before it existed. */
    joinSha256: Sha256.optional(),
    /** Entities in the view: what serving holds in memory for it. */
    entities: z.number().int().nonnegative(),
  }),
  key: (data) => data.pipelineId,
  maxBytes: 4 * 1024,
});
