import { z } from 'zod';
import { ColumnType, DatasetVersionId, ObjectUri, PipelineId, Sha256 } from '../common';
import { defineEvent } from '../event-contract';

/** Ingestion wrote an immutable, content-addressed dataset version. */
export const DatasetIngestedV1 = defineEvent({
  topic: 'mlops.dataset.ingested.v1',
  description: 'An immutable dataset version was written to object storage',
  schema: z.object({
    pipelineId: PipelineId,
    datasetVersionId: DatasetVersionId,
    uri: ObjectUri,
    sha256: Sha256,
    sizeBytes: z.number().int().nonnegative(),
    format: z.enum(['parquet']),
    rowCount: z.number().int().nonnegative(),
    columns: z.array(z.object({ name: z.string().min(1), type: ColumnType })).min(1),
    /** Where the rows came from: topics with offsets, uploaded file names, pulls. */
    sources: z.array(z.string().min(1)).min(1),
    parentVersionId: DatasetVersionId.optional(),
    /** Position in the pipeline's chain of versions: the parent's plus one, 1 for the first. */
    sequence: z.number().int().positive().optional(),
  }),
  key: (data) => data.pipelineId,
  maxBytes: 64 * 1024,
});
