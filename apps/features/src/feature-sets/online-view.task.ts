import {
  buildOnlineView,
  type DatasetTable,
  type OnlineView,
  type OnlineViewJoin,
  PreviousOnlineViewError,
  readParquet,
} from '@keel/datasets';
import { NonRetryableError } from '@keel/messaging';
import { stableStringify } from '@keel/ml-models';
import { asBuffer, defineWorkerTask, movableBuffers, transferResult } from '@keel/workers';

export interface OnlineViewInput {
  join: OnlineViewJoin;
  /**
   * The table pipeline's validated versions' Parquet bytes, oldest first, verified: all of them, or with `previous`,
   * those since the previous view's.
   */
  datasets: Uint8Array[];
  /** Wall-clock time of the build: rows dated later are kept for their time. */
  now: number;
  /** The JSON bytes of the view of the versions before `datasets`, built at or before `now`, verified. */
  previous?: Uint8Array;
}

/** The online view's JSON bytes and how many entities it holds. */
export interface EncodedOnlineView {
  bytes: Uint8Array;
  entities: number;
}

/** A previous view the build could not extend (not JSON, another definition): the caller reads every version. */
export interface UnusablePreviousView {
  previousUnusable: string;
}

/**
 * Reads the table's versions (with `previous`: the view so far and the versions since) and builds its online view
 * (pure but for `now`, which the caller passes).
 */
export async function encodeOnlineView(input: OnlineViewInput): Promise<EncodedOnlineView | UnusablePreviousView> {
  let previous: OnlineView | undefined;
  if (input.previous) {
    try {
      previous = JSON.parse(asBuffer(input.previous).toString()) as OnlineView;
    } catch (error) {
      return { previousUnusable: `not JSON: ${(error as Error).message}` };
    }
  }
  const tables: DatasetTable[] = [];
  for (const bytes of input.datasets) {
    try {
      tables.push(await readParquet(asBuffer(bytes)));
    } catch (error) {
      throw new NonRetryableError(
        `a feature table version is not readable Parquet: ${(error as Error).message}`,
        'unreadable-dataset',
      );
    }
  }
  let view;
  try {
    view = buildOnlineView(tables, input.join, input.now, previous);
  } catch (error) {
    if (error instanceof PreviousOnlineViewError) return { previousUnusable: error.message };
    throw new NonRetryableError(`cannot build the online view: ${(error as Error).message}`, 'bad-dataset');
  }
  return { bytes: Buffer.from(stableStringify(view)), entities: Object.keys(view.entities).length };
}

/** {@link encodeOnlineView} on a worker thread; the versions move in and the view moves back. */
export const onlineViewTask = defineWorkerTask(__filename, 'onlineViewTask', async (input: OnlineViewInput) => {
  const encoded = await encodeOnlineView(input);
  return transferResult(encoded, 'previousUnusable' in encoded ? [] : movableBuffers(encoded.bytes));
});
