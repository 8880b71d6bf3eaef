import { isFeatureTable, type PipelineSpec } from '@keel/contracts';
import { readParquet } from '@keel/datasets';
import { NonRetryableError } from '@keel/messaging';
import { asBuffer, defineWorkerTask, type WorkerTaskContext } from '@keel/workers';
import { type AttributeBiasReport, biasFindings, measureBias, referenceShares, withFacetShares } from './bias-checks';
import {
  type BaselineShift,
  judgeShift,
  type JudgedShift,
  measureShift,
  type ShiftBaseline,
  shiftFindings,
  sampleVersion,
  versionSummaries,
  type VersionSummaries,
} from './shift-checks';
import {
  type ColumnProfile,
  type Finding,
  inferReference,
  profileTable,
  type ReferenceColumn,
  validateDataset,
} from './validation-checks';

/** A shift baseline as stored: its summaries still JSON bytes. */
export type StoredBaseline = Omit<ShiftBaseline, 'summaries'> & { summaries: Uint8Array };

export interface DatasetChecksInput {
  spec: PipelineSpec;
  /** The dataset version's Parquet bytes, verified against its sha256, and its URI for messages. */
  dataset: Uint8Array;
  uri: string;
  /** The pipeline's reference; absent for its first version, whose own statistics become the reference. */
  reference?: readonly ReferenceColumn[];
  /**
   * The baselines of the shift checks: the reference's and the previous accepted version's stored summaries, as the
   * JSON bytes read from object storage (parsed here, off the event loop).
   */
  baselines?: readonly StoredBaseline[];
}

export interface DatasetChecks {
  rowCount: number;
  /** The reference the checks ran against: the one given, or the one inferred from this version. */
  reference: ReferenceColumn[];
  findings: Finding[];
  columns: ColumnProfile[];
  /** Pre-training bias per protected attribute (SageMaker Clarify's metrics), whatever the spec's thresholds. */
  bias: AttributeBiasReport[];
  /** This version's per-column summaries (VersionSummaries as JSON bytes), stored for later versions' shift checks. */
  summaries: Uint8Array;
  /** Per-column shift against each baseline given, whatever the spec's thresholds. */
  shift: BaselineShift[];
  /** The shifted columns the spec's validation.shift judges (also among the findings). */
  shifted: JudgedShift[];
}

/**
 * Reads a dataset version and runs every check of its pipeline against the reference (inferring it from this version
 * when none is given) and the shift baselines, with per-column statistics and summaries for the report. Pure: the same bytes, spec and reference give the
 * same outcome on any thread. Bytes that are not Parquet cannot get better by retrying.
 */
export async function checkDataset(
  input: DatasetChecksInput,
  { progress }: Pick<WorkerTaskContext, 'progress'>,
): Promise<DatasetChecks> {
  progress({ stage: 'read dataset' });
  let table;
  try {
    table = await readParquet(asBuffer(input.dataset));
  } catch (error) {
    throw new NonRetryableError(
      `${input.uri} is not readable Parquet: ${(error as Error).message}`,
      'unreadable-dataset',
    );
  }
  progress({ stage: 'check', total: table.rowCount });
  const reference = input.reference
    ? [...input.reference]
    : withFacetShares(inferReference(table), table, isFeatureTable(input.spec) ? [] : input.spec.protectedAttributes);
  const bias = measureBias(input.spec, table, referenceShares(reference));
  progress({ stage: 'shift' });
  const sample = sampleVersion(input.spec, table);
  const shift = (input.baselines ?? []).map((baseline) =>
    measureShift(input.spec, sample, {
      ...baseline,
      summaries: JSON.parse(asBuffer(baseline.summaries).toString('utf8')) as VersionSummaries,
    }),
  );
  const shifted = judgeShift(input.spec, shift);
  return {
    rowCount: table.rowCount,
    reference,
    findings: [
      ...validateDataset(input.spec, table, reference),
      ...(isFeatureTable(input.spec) ? [] : biasFindings(input.spec.validation.bias, bias)),
      ...shiftFindings(shifted),
    ],
    columns: profileTable(table),
    bias,
    // A plain Uint8Array, as it arrives from a worker thread: the same value on either side.
    summaries: new TextEncoder().encode(JSON.stringify(versionSummaries(sample))),
    shift,
    shifted,
  };
}

/** {@link checkDataset} on a worker thread. */
export const datasetChecksTask = defineWorkerTask(__filename, 'datasetChecksTask', checkDataset);
