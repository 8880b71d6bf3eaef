import {
  type CloudEventAttributes,
  DataRecordsV1,
  type DatasetColumnSpec,
  datasetSchema,
  type PipelineSpec,
} from '@keel/contracts';
import { decodeRecord, type InboundRecord, type RecordLimits } from '@keel/messaging';
import { asBuffer, defineWorkerTask } from '@keel/workers';
import { rememberCheckedRows } from '../staging/checked-rows-cache';
import { type BadRecord, checkColumnsOf, codedColumns } from './record-checks';

/** A data event decoded and checked on a worker thread: what staging it needs, and nothing it does not. */
export interface PreparedRecords {
  pipelineId: string;
  source?: string;
  /** JSON text of the checked rows, a `CodedColumns`: what is staged. */
  rowsJson: string;
  rowCount: number;
  bad: BadRecord[];
}

/** A record as it crosses to the worker: its value is a slice of `PrepareRecordsInput.values`, its headers text. */
export interface RecordToPrepare {
  topic: string;
  partition: number;
  offset: string;
  headers: Record<string, string | string[] | undefined>;
  /** Where its value ends in `values` (it starts where the previous one ended). */
  end: number;
}

export interface PrepareRecordsInput {
  /** The records' values one after another (moved to the worker, not copied). */
  values: Uint8Array;
  records: RecordToPrepare[];
  /** The specs of the pipelines the events may be for (by the records' keys); an event for another is not taken. */
  specs: [string, PipelineSpec][];
  limits: RecordLimits;
}

/** Per record, in order: its attributes and prepared data, or null when it goes the per-record way. */
export type PrepareRecordsOutput = ({ attributes: CloudEventAttributes; prepared: PreparedRecords } | null)[];

/**
 * Decodes data events exactly as the messaging lib would (`decodeRecord`: size, nesting depth, CloudEvent, contract),
 * checks their records against their pipeline's spec and builds the staged text, all off the event loop; the checked
 * rows stay in this thread's memory for the cut (it runs on the same thread: staging-thread.ts). A record
 * that does not decode, or whose pipeline's spec was not given, is answered null: the lib then takes it the
 * per-record way, which dead-letters it with its reason or handles it on its own.
 */
export function prepareRecords(input: PrepareRecordsInput): PrepareRecordsOutput {
  const values = asBuffer(input.values);
  // Each spec's dataset schema once a fetch, not once an event.
  const specs = new Map(input.specs.map(([id, spec]) => [id, datasetSchema(spec)]));
  const output: PrepareRecordsOutput = [];
  let start = 0;
  for (const { end, ...fields } of input.records) {
    const record: InboundRecord = { ...fields, key: null, value: values.subarray(start, end) };
    start = end;
    output.push(prepareOne(record, specs, input.limits));
  }
  return output;
}

function prepareOne(
  record: InboundRecord,
  specs: ReadonlyMap<string, readonly DatasetColumnSpec[]>,
  limits: RecordLimits,
): PrepareRecordsOutput[number] {
  let event;
  try {
    event = decodeRecord(DataRecordsV1, record, limits);
  } catch {
    return null;
  }
  const { pipelineId, source, records } = event.data;
  const schema = specs.get(pipelineId);
  if (!schema) return null;
  const { good, bad } = checkColumnsOf(schema, records);
  const staged = codedColumns(schema, good);
  const rowsJson = JSON.stringify(staged);
  // This thread encodes the cut too: it takes these rows then instead of parsing them back from the text.
  rememberCheckedRows(rowsJson, staged);
  return {
    attributes: event.attributes,
    prepared: {
      pipelineId,
      ...(source !== undefined ? { source } : {}),
      rowsJson,
      rowCount: staged.rows,
      bad,
    },
  };
}

export const prepareRecordsTask = defineWorkerTask<PrepareRecordsInput, PrepareRecordsOutput>(
  __filename,
  'prepareRecordsTask',
  prepareRecords,
);
