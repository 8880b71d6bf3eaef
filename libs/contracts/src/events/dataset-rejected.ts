import { z } from 'zod';
import { DatasetVersionId, ObjectUri, PipelineId } from '../common';
import { defineEvent } from '../event-contract';
import { ValidationFinding, VersionShift } from './dataset-validated';

/** Validation rejected a dataset version; it goes no further. */
export const DatasetRejectedV1 = defineEvent({
  topic: 'mlops.dataset.rejected.v1',
  description: 'A dataset version failed validation and goes no further',
  schema: z.object({
    pipelineId: PipelineId,
    datasetVersionId: DatasetVersionId,
    reportUri: ObjectUri,
    failures: z.array(ValidationFinding).min(1).max(200),
    /** Added after v1's first consumers, optional (they ignore it): see VersionShift. */
    shift: VersionShift.optional(),
  }),
  key: (data) => data.pipelineId,
  maxBytes: 64 * 1024,
});
