import { z } from 'zod';
import { PipelineId, Scalar, Timestamp } from '../common';
import { defineEvent } from '../event-contract';

const PIPELINE_ID = /^[a-z0-9][a-z0-9-]{1,62}$/;
const MAX_RECORDS = 10_000;
const MAX_SOURCE_CHARS = 200;
const DATA_KEYS = new Set(['pipelineId', 'records', 'source', 'observedAt']);

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const prototype = Object.getPrototypeOf(value) as unknown;
  return prototype === Object.prototype || prototype === null;
}

/** A flat record as the schema accepts it unchanged: non-empty keys, each value a string, finite number, boolean or null. */
function isFlatRecord(value: unknown): boolean {
  if (!isPlainObject(value)) return false;
  for (const key in value) {
    // `__proto__` (an own key after JSON.parse) is left to the schema, which decides what becomes of it.
    if (key === '' || key === '__proto__' || !Object.prototype.hasOwnProperty.call(value, key)) return false;
    const cell = value[key];
    if (cell === null) continue;
    switch (typeof cell) {
      case 'string':
      case 'boolean':
        continue;
      case 'number':
        if (Number.isFinite(cell)) continue;
        return false;
      default:
        return false;
    }
  }
  return true;
}

/**
 * The schema below, by hand, for the one topic whose events hold thousands of values: validating records through
 * the schema cost five times the JSON parse of the same event (profiled in `npm run bench:ingest`).
 */
function quickCheck(data: unknown): boolean {
  if (!isPlainObject(data)) return false;
  for (const key in data) if (!DATA_KEYS.has(key)) return false;
  const { pipelineId, records, source, observedAt } = data;
  if (typeof pipelineId !== 'string' || !PIPELINE_ID.test(pipelineId)) return false;
  if (source !== undefined && (typeof source !== 'string' || source.length < 1 || source.length > MAX_SOURCE_CHARS)) {
    return false;
  }
  if (observedAt !== undefined && !Timestamp.safeParse(observedAt).success) return false;
  if (!Array.isArray(records) || records.length < 1 || records.length > MAX_RECORDS) return false;
  for (let i = 0; i < records.length; i++) if (!isFlatRecord(records[i])) return false;
  return true;
}

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
      .max(MAX_RECORDS)
      .describe('Flat records, column name to scalar value'),
    /** Free-form name of the producing system, kept as dataset lineage. */
    source: z.string().min(1).max(MAX_SOURCE_CHARS).optional(),
    /** When the producer observed the records. */
    observedAt: Timestamp.optional(),
  }),
  key: (data) => data.pipelineId,
  maxBytes: 4 * 1024 * 1024,
  quickCheck,
  // The data object, its records array and the flat records in it.
  quickCheckedDepth: 3,
});
