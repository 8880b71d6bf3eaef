import { z } from 'zod';
import { DatasetVersionId, ObjectUri, PipelineId, Sha256 } from './common';

const DURATION_UNITS_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;
const DURATION_PATTERN = /^([1-9][0-9]{0,9})(ms|s|m|h|d|w)$/;

/** A span of data time: a positive integer and a unit, `90d`, `12h`, `30m`, `2w`. */
export const Duration = z.string().regex(DURATION_PATTERN, 'must be a positive integer and a unit: ms, s, m, h, d, w');
export type Duration = z.infer<typeof Duration>;

/** Milliseconds of a {@link Duration}. */
export function durationMs(duration: Duration): number {
  const match = DURATION_PATTERN.exec(duration);
  if (!match) throw new Error(`"${duration}" is not a duration`);
  return Number(match[1]) * DURATION_UNITS_MS[match[2] as keyof typeof DURATION_UNITS_MS];
}

/**
 * Which data a training run sees, out of every validated dataset version of its pipeline up to the one that triggered
 * it (or, for a training request, up to the newest when the request arrived): every row (`all`), the newest `rows`
 * rows in ingestion order (`rows`), or the rows whose time column lies within `duration` of the newest time value
 * (`duration`; needs the spec's timeColumn).
 */
export const TrainingWindow = z.discriminatedUnion('type', [
  z.object({ type: z.literal('all') }),
  z.object({ type: z.literal('rows'), rows: z.number().int().positive().max(50_000_000) }),
  z.object({ type: z.literal('duration'), duration: Duration }),
]);
export type TrainingWindow = z.infer<typeof TrainingWindow>;

/**
 * Weights that favour recent rows: a row `halfLife` older than the newest row counts half as much in training. Age is
 * measured in data time (`halfLife`, needs timeColumn) or in rows of ingestion order (`halfLifeRows`).
 */
export const RecencyWeights = z
  .object({ halfLife: Duration.optional(), halfLifeRows: z.number().int().positive().optional() })
  .refine((weights) => (weights.halfLife === undefined) !== (weights.halfLifeRows === undefined), {
    message: 'give exactly one of halfLife and halfLifeRows',
  });
export type RecencyWeights = z.infer<typeof RecencyWeights>;

/** One line naming a window (and its weights), for logs, lineage and reports: `all`, `last 4800 rows`, `last 7d`. */
export function describeWindow(window: TrainingWindow, weights?: RecencyWeights): string {
  const base =
    window.type === 'all' ? 'all' : window.type === 'rows' ? `last ${window.rows} rows` : `last ${window.duration}`;
  if (!weights) return base;
  return `${base}, half-life ${weights.halfLife ?? `${weights.halfLifeRows} rows`}`;
}

/** Why a training run happened. */
export const TrainingReason = z.enum([
  'new-data',
  'feature-drift',
  'performance-drop',
  'concept-drift',
  'schedule',
  'manual',
]);
export type TrainingReason = z.infer<typeof TrainingReason>;

/**
 * The data a model saw, by reference: the content-addressed snapshot manifest that lists the dataset versions
 * (immutable increments) and which of their rows the window took.
 */
export const SnapshotRef = z.object({
  /** `snap-` and hex, derived from the pipeline and the manifest's sha256. */
  snapshotId: z.string().regex(/^snap-[0-9a-f]{16,64}$/),
  manifestUri: ObjectUri,
  manifestSha256: Sha256,
  /** The window as the spec declared it, in words (`all`, `last 4800 rows`). */
  window: z.string().min(1).max(200),
  /** The newest dataset version in the snapshot: "all data up to this version". */
  upToDatasetVersionId: DatasetVersionId,
  increments: z.number().int().positive(),
  rows: z.number().int().nonnegative(),
  /**
   * The feature tables joined point-in-time to the rows (the spec's `joins`): per table pipeline, the newest of its
   * versions that were read (all of its validated versions up to that one were) and how many; absent: no joins.
   */
  joinedTables: z
    .array(
      z.object({
        pipelineId: PipelineId,
        upToDatasetVersionId: DatasetVersionId,
        increments: z.number().int().positive(),
      }),
    )
    .max(16)
    .optional(),
});
export type SnapshotRef = z.infer<typeof SnapshotRef>;

/** What started a run: new data, or a training request (with its idempotency key). */
export const TrainingTrigger = z.object({
  reason: TrainingReason,
  requestId: z.string().min(1).max(200).optional(),
  requestedBy: z.string().min(1).max(200).optional(),
});
export type TrainingTrigger = z.infer<typeof TrainingTrigger>;
