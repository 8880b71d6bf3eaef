import { z } from 'zod';
import { DatasetVersionId, ObjectUri, PipelineId, Sha256 } from '../common';
import { defineEvent } from '../event-contract';

/** A validation finding: which check, on which column, what was seen. */
export const ValidationFinding = z.object({
  check: z.string().min(1).describe('Check name, e.g. missing-rate, unseen-category, numeric-range'),
  column: z.string().min(1).optional(),
  severity: z.enum(['warning', 'error']),
  message: z.string().min(1),
});

/** Validation passed a dataset version (warnings allowed); downstream stages may use it. */
export const DatasetValidatedV1 = defineEvent({
  topic: 'mlops.dataset.validated.v1',
  description: 'A dataset version passed validation',
  schema: z.object({
    pipelineId: PipelineId,
    datasetVersionId: DatasetVersionId,
    datasetUri: ObjectUri,
    datasetSha256: Sha256,
    reportUri: ObjectUri,
    warnings: z.array(ValidationFinding).max(200),
    /** From dataset.ingested: the version's place in the pipeline's chain and its rows. */
    sequence: z.number().int().positive().optional(),
    rowCount: z.number().int().nonnegative().optional(),
    parentVersionId: DatasetVersionId.optional(),
  }),
  key: (data) => data.pipelineId,
  maxBytes: 64 * 1024,
});
