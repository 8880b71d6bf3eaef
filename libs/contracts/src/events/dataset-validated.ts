import { z } from 'zod';
import { DatasetVersionId, DriftStatisticName, ObjectUri, PipelineId, Sha256 } from '../common';
import { defineEvent } from '../event-contract';

/** A validation finding: which check, on which column, what was seen. */
export const ValidationFinding = z.object({
  check: z.string().min(1).describe('Check name, e.g. missing-rate, unseen-category, numeric-range'),
  column: z.string().min(1).optional(),
  severity: z.enum(['warning', 'error']),
  message: z.string().min(1),
});

/** A column whose distribution shifted past its threshold against a baseline version (the spec's validation.shift). */
export const ShiftedColumn = z.object({
  column: z.string().min(1),
  /** The baseline: the pipeline's reference version or its previous accepted one. */
  against: z.enum(['reference', 'previous']),
  statistic: DriftStatisticName,
  /** The statistic's value: a distance, or a p-value for ks and chi2. */
  value: z.number(),
  threshold: z.number(),
  action: z.enum(['warn', 'reject']),
});

/**
 * Distribution shift of a version, when its pipeline's spec declares validation.shift: the baselines it was compared
 * with (absent: none, e.g. a pipeline's first version has no previous one) and the columns past their threshold.
 * Every column's numbers are in the report (reportUri).
 */
export const VersionShift = z.object({
  referenceVersionId: DatasetVersionId.optional(),
  previousVersionId: DatasetVersionId.optional(),
  shifted: z.array(ShiftedColumn).max(200),
});

/** Validation passed a dataset version (warnings allowed); downstream stages may use it. */
export const DatasetValidatedV1 = defineEvent({
  topic: 'mlops.dataset.validated.v1',
  description: 'A dataset version passed validation',
  schema: z.object({
    pipelineId: PipelineId,
    datasetVersionId: DatasetVersionId,
    datasetUri: ObjectUri,
    datasetSha256: Sha256,
    reportUri: ObjectUri,
    warnings: z.array(ValidationFinding).max(200),
    /** From dataset.ingested: the version's place in the pipeline's chain and its rows. */
    sequence: z.number().int().positive().optional(),
    rowCount: z.number().int().nonnegative().optional(),
    parentVersionId: DatasetVersionId.optional(),
    /** Added after v1's first consumers, optional (they ignore it): see VersionShift. */
    shift: VersionShift.optional(),
  }),
  key: (data) => data.pipelineId,
  maxBytes: 64 * 1024,
});
