import { type MetricName } from '@keel/contracts';
import { readParquet, ROW_KEY_COLUMN, SPLIT_COLUMN, takeRows } from '@keel/datasets';
import { evaluatePackage, parsePackage } from '@keel/model-package';
import { asBuffer, defineWorkerTask, type WorkerTaskContext } from '@keel/workers';
import { packageInputs } from './evaluation-rows';

export interface ChampionComparisonInput {
  primaryMetric: MetricName;
  /** Both packages' bytes, verified against their sha256. */
  candidatePackage: Uint8Array;
  championPackage: Uint8Array;
  /** The candidate's feature set: its holdout rows are the evaluation data. */
  candidateFeatureSet: Uint8Array;
  /** The champion's feature set, when known: rows it trained or validated on are left out of the evaluation. */
  championFeatureSet?: Uint8Array;
}

export interface ChampionComparisonOutput {
  rows: number;
  /** Holdout rows of the candidate the champion had trained or validated on, left out. */
  excludedRows: number;
  candidate: Record<string, number>;
  champion: Record<string, number>;
}

/**
 * Scores candidate and champion on the same rows: the candidate's holdout rows the champion never trained or
 * validated on (by stable row key), each through its own fitted preprocessing, the code path serving runs. Pure.
 */
export async function compareOnSameRows(
  input: ChampionComparisonInput,
  { progress }: Pick<WorkerTaskContext, 'progress'>,
): Promise<ChampionComparisonOutput> {
  progress({ stage: 'read' });
  const candidate = parsePackage(asBuffer(input.candidatePackage));
  const champion = parsePackage(asBuffer(input.championPackage));
  const table = await readParquet(asBuffer(input.candidateFeatureSet));
  const column = (name: string) => table.columns.find((c) => c.name === name)?.values;
  const splits = column(SPLIT_COLUMN);
  if (!splits) throw new Error('the candidate feature set has no split column');
  const keys = column(ROW_KEY_COLUMN);
  const seenByChampion = new Set<unknown>();
  if (input.championFeatureSet && keys) {
    const championTable = await readParquet(asBuffer(input.championFeatureSet));
    const championKeys = championTable.columns.find((c) => c.name === ROW_KEY_COLUMN)?.values;
    const championSplits = championTable.columns.find((c) => c.name === SPLIT_COLUMN)?.values;
    if (championKeys && championSplits) {
      championKeys.forEach((key, i) => {
        if (championSplits[i] !== 'holdout') seenByChampion.add(key);
      });
    }
  }
  const holdout: number[] = [];
  let excludedRows = 0;
  splits.forEach((split, i) => {
    if (split !== 'holdout') return;
    if (keys && seenByChampion.has(keys[i])) excludedRows++;
    else holdout.push(i);
  });
  const rows = takeRows(table, holdout);
  const raw = (pkg: typeof candidate) => packageInputs(pkg, rows);
  const target = rows.columns.find((c) => c.name === candidate.target.column)?.values;
  if (!target) throw new Error(`the evaluation rows lack the target "${candidate.target.column}"`);
  progress({ stage: 'score', total: rows.rowCount });
  return {
    rows: rows.rowCount,
    excludedRows,
    candidate: evaluatePackage(candidate, raw(candidate), target),
    champion: evaluatePackage(champion, raw(champion), target),
  };
}

/** {@link compareOnSameRows} on a worker thread. */
export const championComparisonTask = defineWorkerTask(
  __filename,
  'championComparisonTask',
  (input: ChampionComparisonInput, context: WorkerTaskContext) => compareOnSameRows(input, context),
);
