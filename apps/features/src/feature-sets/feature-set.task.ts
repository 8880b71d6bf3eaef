import { type PipelineSpecV1 } from '@keel/contracts';
import { readParquet, type SplitName, writeParquet } from '@keel/datasets';
import { NonRetryableError } from '@keel/messaging';
import { stableStringify } from '@keel/ml-models';
import { asBuffer, defineWorkerTask, movableBuffers, transferResult, type WorkerTaskContext } from '@keel/workers';
import { buildFeatureSet } from './feature-set';

export interface FeatureSetInput {
  spec: PipelineSpecV1;
  /** The dataset version's Parquet bytes, verified against its sha256. */
  dataset: Uint8Array;
}

/** A feature set ready to store: the split rows as Parquet and the fitted transform as JSON. */
export interface EncodedFeatureSet {
  featureSet: Uint8Array;
  transform: Uint8Array;
  rowCounts: Record<SplitName, number>;
}

/**
 * Reads a dataset version, splits it, fits the transform on the train split and encodes both artifacts. Pure: the
 * same bytes and spec give the same artifacts, on any thread. Bytes that are not Parquet cannot get better by
 * retrying; a dataset that cannot become a feature set throws FeatureSetInputError (also non-retryable).
 */
export async function encodeFeatureSet(
  input: FeatureSetInput,
  { progress }: Pick<WorkerTaskContext, 'progress'>,
): Promise<EncodedFeatureSet> {
  progress({ stage: 'read dataset' });
  let dataset;
  try {
    dataset = await readParquet(asBuffer(input.dataset));
  } catch (error) {
    throw new NonRetryableError(
      `the dataset is not readable Parquet: ${(error as Error).message}`,
      'unreadable-dataset',
    );
  }
  progress({ stage: 'split and fit', total: dataset.rowCount });
  const built = buildFeatureSet(dataset, input.spec);
  progress({ stage: 'encode', total: built.table.rowCount });
  return {
    featureSet: writeParquet(built.table),
    transform: Buffer.from(stableStringify(built.transform)),
    rowCounts: built.rowCounts,
  };
}

/** {@link encodeFeatureSet} on a worker thread; the dataset moves in and both artifacts move back. */
export const featureSetTask = defineWorkerTask(
  __filename,
  'featureSetTask',
  async (input: FeatureSetInput, context: WorkerTaskContext) => {
    const encoded = await encodeFeatureSet(input, context);
    return transferResult(encoded, movableBuffers(encoded.featureSet, encoded.transform));
  },
);
