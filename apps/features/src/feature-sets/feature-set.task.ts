import { datasetColumns, type PipelineSpecV1 } from '@keel/contracts';
import {
  type DatasetTable,
  featureTableOf,
  pointInTimeJoin,
  type PointInTimeJoin,
  readParquet,
  recencyWeights,
  resolveWindow,
  ROW_KEY_COLUMN,
  type SnapshotIncrement,
  type SnapshotJoin,
  type SnapshotManifest,
  snapshotTable,
  type SplitName,
  WEIGHT_COLUMN,
  writeParquet,
} from '@keel/datasets';
import { NonRetryableError } from '@keel/messaging';
import { stableStringify } from '@keel/ml-models';
import { asBuffer, defineWorkerTask, movableBuffers, transferResult, type WorkerTaskContext } from '@keel/workers';
import { buildFeatureSet, FeatureSetInputError } from './feature-set';

export interface FeatureSetInput {
  spec: PipelineSpecV1;
  /** The validated dataset versions the window may draw from, oldest first. */
  increments: SnapshotIncrement[];
  /** Each increment's Parquet bytes, verified against its sha256, in the same order. */
  datasets: Uint8Array[];
  /** The spec's point-in-time joins, resolved (feature time named), each with its table's versions; absent: none. */
  joins?: JoinInput[];
}

/** A point-in-time join and the versions of its feature table it reads. */
export interface JoinInput {
  join: PointInTimeJoin;
  pipelineId: string;
  /** The table pipeline's validated versions up to the snapshot's cut, oldest first (the manifest lists them). */
  increments: SnapshotIncrement[];
  /**
   * Those of them read, oldest first: the others give no row a value (see tableVersionsToRead); absent: all of them.
   */
  read?: SnapshotIncrement[];
  /** The Parquet bytes of those read, verified, in the same order. */
  datasets: Uint8Array[];
  /** The joined columns' types the cut's first version gives, when it is not read (see joinReads). */
  columnTypes?: [name: string, type: string][];
}

/** A feature set ready to store: the snapshot manifest, the split rows as Parquet and the fitted transform as JSON. */
export interface EncodedFeatureSet {
  manifest: Uint8Array;
  featureSet: Uint8Array;
  transform: Uint8Array;
  rowCounts: Record<SplitName, number>;
}

/**
 * Reads the increments, resolves the spec's training window over them into a snapshot manifest, takes the window's
 * rows (with their stable row keys and, when asked for, recency weights), splits them, fits the transform on the train
 * split and encodes the three artifacts. Pure: the same bytes and spec give the same artifacts, on any thread. Bytes
 * that are not Parquet cannot get better by retrying; a window that cannot become a feature set throws
 * FeatureSetInputError (also non-retryable).
 */
export async function encodeFeatureSet(
  input: FeatureSetInput,
  { progress }: Pick<WorkerTaskContext, 'progress'>,
): Promise<EncodedFeatureSet> {
  const { spec } = input;
  progress({ stage: 'read datasets', total: input.increments.length });
  const tables = new Map<string, DatasetTable>();
  for (const [k, increment] of input.increments.entries()) {
    try {
      tables.set(increment.sha256, await readParquet(asBuffer(input.datasets[k])));
    } catch (error) {
      throw new NonRetryableError(
        `dataset version ${increment.datasetVersionId} is not readable Parquet: ${(error as Error).message}`,
        'unreadable-dataset',
      );
    }
  }
  progress({ stage: 'resolve window' });
  let manifest: SnapshotManifest;
  let table: DatasetTable;
  try {
    manifest = resolveWindow({
      pipelineId: spec.id,
      window: spec.training.window,
      recencyWeights: spec.training.recencyWeights,
      timeColumn: spec.timeColumn,
      increments: input.increments.map((increment) => ({ ...increment, table: tables.get(increment.sha256)! })),
    });
    table = snapshotTable(manifest, tables, datasetColumns(spec), ROW_KEY_COLUMN);
  } catch (error) {
    throw new FeatureSetInputError((error as Error).message);
  }
  if (input.joins && input.joins.length > 0) {
    progress({ stage: 'point-in-time joins', total: input.joins.length });
    const recorded: SnapshotJoin[] = [];
    for (const joinInput of input.joins) {
      table = await joinFeatureTable(table, joinInput);
      const { join, pipelineId, increments } = joinInput;
      recorded.push({ pipelineId, ...join, features: [...join.features], increments });
    }
    manifest = { ...manifest, joins: recorded };
  }
  if (spec.training.recencyWeights) {
    const times = spec.timeColumn ? table.columns.find((c) => c.name === spec.timeColumn)?.values : undefined;
    table.columns.push({
      name: WEIGHT_COLUMN,
      type: 'number',
      values: recencyWeights(spec.training.recencyWeights, table.rowCount, times),
    });
  }
  progress({ stage: 'split and fit', total: table.rowCount });
  const built = buildFeatureSet(table, spec);
  progress({ stage: 'encode', total: built.table.rowCount });
  return {
    manifest: Buffer.from(stableStringify(manifest)),
    featureSet: writeParquet(built.table),
    transform: Buffer.from(stableStringify(built.transform)),
    rowCounts: built.rowCounts,
  };
}

/**
 * The window's rows with one feature table's values as of each row's time. The table's versions are read here;
 * unreadable bytes or a version lacking a column the join reads cannot get better by retrying.
 */
async function joinFeatureTable(rows: DatasetTable, input: JoinInput): Promise<DatasetTable> {
  if (input.increments.length === 0) {
    // Every joined value would be missing and no transform can be fitted on that: a clear refusal instead.
    throw new FeatureSetInputError(
      `feature table ${input.pipelineId} has no validated dataset version yet: ingest it before the rows that join it`,
    );
  }
  const versions: { increment: SnapshotIncrement; table: DatasetTable }[] = [];
  for (const [k, increment] of (input.read ?? input.increments).entries()) {
    try {
      versions.push({ increment, table: await readParquet(asBuffer(input.datasets[k])) });
    } catch (error) {
      throw new NonRetryableError(
        `feature table ${input.pipelineId} version ${increment.datasetVersionId} is not readable Parquet: ${(error as Error).message}`,
        'unreadable-dataset',
      );
    }
  }
  try {
    const table = featureTableOf(versions, input.join);
    const types = new Map(input.columnTypes ?? []);
    const typed = {
      ...table,
      columns: table.columns.map((c) => ({ ...c, type: (types.get(c.name) as typeof c.type | undefined) ?? c.type })),
    };
    return pointInTimeJoin(rows, typed, input.join);
  } catch (error) {
    throw new FeatureSetInputError(`joining ${input.pipelineId}: ${(error as Error).message}`);
  }
}

/** {@link encodeFeatureSet} on a worker thread; the datasets move in and the artifacts move back. */
export const featureSetTask = defineWorkerTask(
  __filename,
  'featureSetTask',
  async (input: FeatureSetInput, context: WorkerTaskContext) => {
    const encoded = await encodeFeatureSet(input, context);
    return transferResult(encoded, movableBuffers(encoded.manifest, encoded.featureSet, encoded.transform));
  },
);
