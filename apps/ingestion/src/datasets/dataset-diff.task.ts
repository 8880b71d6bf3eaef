import { readParquet } from '@keel/datasets';
import { NonRetryableError } from '@keel/messaging';
import { asBuffer, defineWorkerTask } from '@keel/workers';
import { type DatasetDiff, diffDatasets } from './dataset-diff';

export interface DatasetDiffInput {
  /** Both versions' Parquet bytes, verified against their sha256. */
  from: Uint8Array;
  to: Uint8Array;
}

/** {@link diffDatasets} of two stored versions, on a worker thread. */
export const datasetDiffTask = defineWorkerTask(
  __filename,
  'datasetDiffTask',
  async (input: DatasetDiffInput): Promise<DatasetDiff> => {
    const read = async (bytes: Uint8Array, which: string) => {
      try {
        return await readParquet(asBuffer(bytes));
      } catch (error) {
        throw new NonRetryableError(
          `the ${which} version is not readable Parquet: ${(error as Error).message}`,
          'unreadable-dataset',
        );
      }
    };
    return diffDatasets(await read(input.from, 'from'), await read(input.to, 'to'));
  },
);
