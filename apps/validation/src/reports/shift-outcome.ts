import { DatasetVersionId, type DatasetValidatedV1, type EventData, type ShiftSpec } from '@keel/contracts';
import { KeelAttr } from '@keel/telemetry';
import { type Span } from '@opentelemetry/api';
import { type BaselineShift, type JudgedShift, type ShiftBaselineKind } from '../checks/shift-checks';
import { type StoredBaseline } from '../checks/validation.task';
import { type Finding } from '../checks/validation-checks';
import { type ShiftOutcome } from './validation.repository';

/** Most shifted columns listed in a dataset.validated/rejected event (every column is in the report). */
export const MAX_SHIFTED_IN_EVENT = 50;

/** A baseline as the report names it: which version (null: none) and whether it was compared, or why not. */
export interface BaselineNote {
  against: ShiftBaselineKind;
  datasetVersionId: string | null;
  note: string;
}

/**
 * The baselines of one validation: the summaries to compare with, a note per baseline for the report, and a warning
 * per baseline the spec's validation.shift compares with that could not be compared.
 */
export interface Baselines {
  stored: StoredBaseline[];
  notes: BaselineNote[];
  findings: Finding[];
}

const comparedVersion = (baselines: Baselines, against: ShiftBaselineKind): string | null =>
  baselines.stored.find((baseline) => baseline.against === against)?.datasetVersionId ?? null;

/** The shift of a version for its stored report (REST): the baselines compared and one line per column and baseline. */
export function shiftLines(baselines: Baselines, shifts: readonly BaselineShift[]): ShiftOutcome {
  return {
    referenceVersionId: comparedVersion(baselines, 'reference'),
    previousVersionId: comparedVersion(baselines, 'previous'),
    columns: shifts.flatMap((shift) =>
      shift.columns.map((column) => ({
        column: column.column,
        against: shift.against,
        statistic: column.statistic,
        value: column.value,
        threshold: column.threshold,
        drifted: column.drifted,
        ...(column.action === undefined ? {} : { action: column.action }),
      })),
    ),
  };
}

/**
 * The `shift` of a dataset.validated/rejected event: the baselines the spec compares with (when there was one) and the
 * columns past their threshold, rejecting ones first.
 */
export function eventShift(
  against: ShiftSpec['against'],
  baselines: Baselines,
  shifted: readonly JudgedShift[],
): NonNullable<EventData<typeof DatasetValidatedV1>['shift']> {
  const named = (kind: ShiftBaselineKind) =>
    against === 'both' || against === kind ? comparedVersion(baselines, kind) : null;
  const reference = named('reference');
  const previous = named('previous');
  const ordered = [...shifted.filter((s) => s.action === 'reject'), ...shifted.filter((s) => s.action !== 'reject')];
  return {
    ...(reference ? { referenceVersionId: DatasetVersionId.parse(reference) } : {}),
    ...(previous ? { previousVersionId: DatasetVersionId.parse(previous) } : {}),
    shifted: ordered
      .slice(0, MAX_SHIFTED_IN_EVENT)
      .map(({ column, against: baseline, statistic, value, threshold, action }) => ({
        column,
        against: baseline,
        statistic,
        value,
        threshold,
        action,
      })),
  };
}

/** The shift on the validation span: the baselines, the columns past their threshold and how many of them reject. */
export function recordShift(span: Span, outcome: ShiftOutcome, shifted: readonly JudgedShift[]): void {
  span.setAttribute(KeelAttr.VALIDATION_SHIFT_REFERENCE, outcome.referenceVersionId ?? 'none');
  span.setAttribute(KeelAttr.VALIDATION_SHIFT_PREVIOUS, outcome.previousVersionId ?? 'none');
  if (shifted.length === 0) return;
  span.setAttribute(
    KeelAttr.VALIDATION_SHIFTED_COLUMNS,
    shifted.map((s) => `${s.column}/${s.against}/${s.statistic}=${Number(s.value.toPrecision(4))}`).join(','),
  );
  span.setAttribute(KeelAttr.VALIDATION_SHIFT_REJECTED, shifted.filter((s) => s.action === 'reject').length);
}
