import { type EffectCounts, describeCounts, total } from './effect-accounting';

/** One row of the chaos table: a fault (or the baseline, or the end-of-run check) and what it left behind. */
export interface FaultResult {
  fault: string;
  /** From the end of the fault (the server or service started again, or resumed) until the system was whole. */
  recoveryMs?: number;
  completed: boolean;
  recordsLost: number;
  duplicates: EffectCounts;
  lostEffects: EffectCounts;
  failedRequests: number;
  /** Failures while serving itself was down (expected), out of failedRequests. */
  failedWhileServingDown: number;
  /** Failures by gRPC status name. */
  failureCodes: Record<string, number>;
  /** A trace started after the fault reached Jaeger with serving's spans; undefined where not checked. */
  tracesResumed?: boolean;
  notes: string[];
}

/** True when the row breaks a promise: not completed, a record lost, an effect twice, an unexpected failure. */
export function failed(result: FaultResult): boolean {
  return (
    !result.completed ||
    result.recordsLost > 0 ||
    total(result.duplicates) > 0 ||
    result.failedRequests > result.failedWhileServingDown ||
    result.tracesResumed === false
  );
}

function seconds(ms: number | undefined): string {
  return ms === undefined ? '-' : `${(ms / 1000).toFixed(1)} s`;
}

/** The table as Markdown (it reads as well in a terminal), then a line of details per row that has any. */
export function formatTable(results: readonly FaultResult[]): string {
  const header = [
    'fault',
    'recovery',
    'completed',
    'records lost',
    'duplicate effects',
    'failed requests',
    'traces resumed',
    'ok',
  ];
  const rows = results.map((r) => [
    r.fault,
    seconds(r.recoveryMs),
    r.completed ? 'yes' : 'NO',
    String(r.recordsLost),
    String(total(r.duplicates)),
    r.failedWhileServingDown > 0
      ? `${r.failedRequests} (${r.failedWhileServingDown} while serving was down)`
      : String(r.failedRequests),
    r.tracesResumed === undefined ? '-' : r.tracesResumed ? 'yes' : 'NO',
    failed(r) ? 'FAIL' : 'ok',
  ]);
  const widths = header.map((_, i) => Math.max(header[i].length, ...rows.map((row) => row[i].length)));
  const line = (cells: readonly string[]) => `| ${cells.map((cell, i) => cell.padEnd(widths[i])).join(' | ')} |`;
  const lines = [line(header), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...rows.map(line)];
  const details = results.flatMap((r) => {
    const parts = [
      ...(total(r.duplicates) > 0 ? [`duplicates: ${describeCounts(r.duplicates)}`] : []),
      ...(total(r.lostEffects) > 0 ? [`missing effects: ${describeCounts(r.lostEffects)}`] : []),
      ...(total(r.failureCodes) > 0 ? [`failures: ${describeCounts(r.failureCodes)}`] : []),
      ...r.notes,
    ];
    return parts.length > 0 ? [`- ${r.fault}: ${parts.join('; ')}`] : [];
  });
  return [...lines, ...(details.length > 0 ? ['', ...details] : [])].join('\n');
}
