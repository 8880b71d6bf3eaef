import { type MetricName } from '@keel/contracts';
import { readParquet, ROW_KEY_COLUMN, SPLIT_COLUMN, takeRows } from '@keel/datasets';
import { evaluatePackage, heldOutView, parsePackage } from '@keel/model-package';
import { asBuffer, defineWorkerTask, type WorkerTaskContext } from '@keel/workers';
import { comparisonRows, type SplitRows } from './comparison-rows';
import { packageInputs } from './evaluation-rows';

export interface ChampionComparisonInput {
  primaryMetric: MetricName;
  /** Both packages' bytes, verified against their sha256. */
  candidatePackage: Uint8Array;
  championPackage: Uint8Array;
  /** The candidate's feature set: its holdout rows (the newest of them, when enough) are the evaluation data. */
  candidateFeatureSet: Uint8Array;
  /** The champion's feature set, when known: rows it trained or validated on are left out of the evaluation. */
  championFeatureSet?: Uint8Array;
}

export interface ChampionComparisonOutput {
  rows: number;
  /** Holdout rows of the candidate left out: the champion trained or validated on them, or newer ones were enough. */
  excludedRows: number;
  /** Whether the rows are the newest ones, which the champion's feature set never held (see comparisonRows). */
  newest: boolean;
  candidate: Record<string, number>;
  champion: Record<string, number>;
}

/**
 * Scores candidate and champion on the same rows, chosen by {@link comparisonRows} (the newest candidate holdout rows
 * the champion never held, or every one it never trained or validated on), each through its own fitted preprocessing,
 * the code path serving runs. Pure.
 */
export async function compareOnSameRows(
  input: ChampionComparisonInput,
  { progress }: Pick<WorkerTaskContext, 'progress'>,
): Promise<ChampionComparisonOutput> {
  progress({ stage: 'read' });
  // Each package's model from before its refit on the whole window (when it was refit): the candidate's served model
  // saw every row of its holdout and the champion's saw its own, so only these models never trained on the rows
  // below; comparing them also compares like with like (two configurations measured the same way).
  const candidate = heldOutView(parsePackage(asBuffer(input.candidatePackage)));
  const champion = heldOutView(parsePackage(asBuffer(input.championPackage)));
  const table = await readParquet(asBuffer(input.candidateFeatureSet));
  const column = (name: string) => table.columns.find((c) => c.name === name)?.values;
  const splits = column(SPLIT_COLUMN);
  if (!splits) throw new Error('the candidate feature set has no split column');
  let championRows: SplitRows | undefined;
  if (input.championFeatureSet) {
    const championTable = await readParquet(asBuffer(input.championFeatureSet));
    const championColumn = (name: string) => championTable.columns.find((c) => c.name === name)?.values;
    const championSplits = championColumn(SPLIT_COLUMN);
    if (championSplits) championRows = { splits: championSplits, keys: championColumn(ROW_KEY_COLUMN) };
  }
  const { indices, excludedRows, newest } = comparisonRows({ splits, keys: column(ROW_KEY_COLUMN) }, championRows);
  const rows = takeRows(table, indices);
  const raw = (pkg: typeof candidate) => packageInputs(pkg, rows);
  const target = rows.columns.find((c) => c.name === candidate.target.column)?.values;
  if (!target) throw new Error(`the evaluation rows lack the target "${candidate.target.column}"`);
  progress({ stage: 'score', total: rows.rowCount });
  return {
    rows: rows.rowCount,
    excludedRows,
    newest,
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
