import { type PipelineEffects } from './pipeline-observer';

/** Counts by kind of effect, e.g. `{ 'training runs': 1 }`; kinds with 0 are left out. */
export type EffectCounts = Record<string, number>;

export interface EffectAccount {
  /** Published records found in no dataset version. */
  recordsLost: number;
  /** Effects that happened more than once: records in two versions, a second run of one feature set, ... */
  duplicates: EffectCounts;
  /** Effects that should exist and do not (besides lost records). */
  lost: EffectCounts;
}

function extra<T>(items: readonly T[], key: (item: T) => string): number {
  const seen = new Map<string, number>();
  for (const item of items) seen.set(key(item), (seen.get(key(item)) ?? 0) + 1);
  return [...seen.values()].reduce((sum, n) => sum + n - 1, 0);
}

function nonZero(counts: EffectCounts): EffectCounts {
  return Object.fromEntries(Object.entries(counts).filter(([, n]) => n > 0));
}

/**
 * What should have happened exactly once, checked against what did:
 * - every published record is a row of exactly one dataset version;
 * - one validation report and at most one feature set per dataset version, one training run per feature set, one
 *   model version per dataset version (a retrain of the same feature set reproduces the same package, and so the
 *   same run and version), one champion move per version;
 * - every answered prediction row is merged into exactly one drift window, and, where the prediction logs were
 *   counted, logged exactly once.
 * `answeredRows` are the rows serving answered; `uncertainRows` timed out at the client, so serving may or may not
 * have answered (and logged) them. `openWindowRows` is how many answered rows may wait in windows that are still
 * open: monitoring stores a window when it closes, so up to windowRows - 1 rows per model version are in none yet.
 */
export function accountEffects(
  effects: PipelineEffects,
  published: Iterable<string>,
  answeredRows: number,
  uncertainRows: number,
  openWindowRows = 0,
): EffectAccount {
  let recordsLost = 0;
  for (const id of published) if (!effects.rowsPerRecord.has(id)) recordsLost++;
  const duplicateRows = [...effects.rowsPerRecord.values()].reduce((sum, n) => sum + Math.max(0, n - 1), 0);

  const passed = new Set(effects.reports.filter((r) => r.passed).map((r) => r.datasetVersionId));
  const versioned = new Set(effects.versions.map((v) => v.lineage.datasetVersionId));
  const windowRows = effects.windows.reduce((sum, window) => sum + window.rowCount, 0);
  const logged = effects.predictionsLogged;
  // Without the log count, the windows are checked against what serving answered, end to end.
  const windowsExpect = logged ?? answeredRows;
  const windowsMayHoldExtra = logged === undefined ? uncertainRows : 0;

  return {
    recordsLost,
    duplicates: nonZero({
      'dataset rows': duplicateRows,
      'validation reports': extra(effects.reports, (r) => r.datasetVersionId),
      'feature sets': extra(effects.featureSets, (f) => f.datasetVersionId),
      'training runs': extra(effects.trainingRuns, (r) => r.featureSetId),
      'model versions': extra(effects.versions, (v) => v.lineage.datasetVersionId),
      'alias moves':
        extra(effects.championMoves, (m) => String(m.version)) +
        effects.championMoves.filter((m) => m.previousVersion === m.version).length,
      'prediction logs': logged === undefined ? 0 : Math.max(0, logged - answeredRows - uncertainRows),
      'drift window rows': Math.max(0, windowRows - windowsExpect - windowsMayHoldExtra),
    }),
    lost: nonZero({
      'model versions': [...passed].filter((id) => !versioned.has(id)).length,
      'prediction logs': logged === undefined ? 0 : Math.max(0, answeredRows - logged),
      'drift window rows': Math.max(0, windowsExpect - windowRows - openWindowRows),
    }),
  };
}

export function total(counts: EffectCounts): number {
  return Object.values(counts).reduce((sum, n) => sum + n, 0);
}

/** `after - before` per kind, for what one fault added to the run's totals. */
export function added(after: EffectCounts, before: EffectCounts): EffectCounts {
  return nonZero(Object.fromEntries(Object.entries(after).map(([kind, n]) => [kind, n - (before[kind] ?? 0)])));
}

export function describeCounts(counts: EffectCounts): string {
  return Object.entries(counts)
    .map(([kind, n]) => `${kind} ${n}`)
    .join(', ');
}
