import { z } from 'zod';
import { PipelineId, Scalar, Timestamp } from '../common';
import { defineEvent } from '../event-contract';

/**
 * Records that upstream systems publish for a pipeline: the one topic that carries payloads rather than references.
 *
 * Producers: key the Kafka record by `pipelineId`; send CloudEvents in binary mode (`ce_id`, `ce_source`,
 * `ce_type=mlops.data.records.v1`, `ce_specversion=1.0`, `content-type: application/json`) or structured mode
 * (`content-type: application/cloudevents+json`, the whole envelope in the value). `ce_id` must be unique per batch:
 * redelivered batches with the same id are ingested once.
 */
export const DataRecordsV1 = defineEvent({
  topic: 'mlops.data.records.v1',
  description: 'A batch of upstream data records for one pipeline',
  schema: z.object({
    pipelineId: PipelineId,
    /** Flat JSON objects: column name to scalar value (null or absent for missing). */
    records: z
      .array(z.record(z.string().min(1), Scalar))
      .min(1)
      .max(10_000)
      .describe('Flat records, column name to scalar value'),
    /** Free-form name of the producing system, kept as dataset lineage. */
    source: z.string().min(1).max(200).optional(),
    /** When the producer observed the records. */
    observedAt: Timestamp.optional(),
  }),
  key: (data) => data.pipelineId,
  maxBytes: 4 * 1024 * 1024,
});
