import { z } from 'zod';
import { ModelVersionNumber, Timestamp } from '../common';
import { defineEvent } from '../event-contract';

/** Upper bounds (ms) of the latency buckets a rollout observation counts in; one more bucket holds the rest. */
export const ROLLOUT_LATENCY_BOUNDS_MS: readonly number[] = [1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500];

/** Most prediction values one observation carries per version (a uniform sample of the interval's rows). */
export const ROLLOUT_SAMPLE_MAX = 200;

/** Most protected-attribute groups one observation carries per version (the rest are not counted). */
export const ROLLOUT_GROUPS_MAX = 64;

const Count = z.number().int().min(0);

/** Rows of one group of a protected attribute (the attribute's value) a version scored, and those it predicted positive. */
export const RolloutGroupObservation = z.object({
  attribute: z.string().min(1).max(200),
  /** The attribute's value in the request; '' when it was missing. */
  group: z.string().max(200),
  rows: Count,
  /** Rows whose probability of the positive label was ≥ 0.5. */
  positives: Count,
});
export type RolloutGroupObservation = z.infer<typeof RolloutGroupObservation>;

/** What one serving instance saw of one version during one interval of a rollout step. */
export const RolloutVersionObservation = z.object({
  version: ModelVersionNumber,
  /** `baseline`: the champion the rollout started from; `candidate`: the version rolled out. */
  role: z.enum(['baseline', 'candidate']),
  /** Requests the version answered, or (shadow) scored as a mirror. */
  requests: Count,
  /**
   * Of those, the ones the version failed itself: INTERNAL/UNKNOWN, and rows its own preprocessing refused that its
   * signature accepts (a category it never saw); not the caller's other mistakes nor overload.
   */
  errors: Count,
  /** Request latencies counted per bucket of ROLLOUT_LATENCY_BOUNDS_MS (≤ bound), the last bucket above them all. */
  latencyCounts: z.array(Count).length(ROLLOUT_LATENCY_BOUNDS_MS.length + 1),
  /** The numeric output the samples are of (`probability`, `prediction`, ...). */
  output: z.string().min(1).max(200).optional(),
  /** A uniform sample of that output's values over the interval's rows. */
  samples: z.array(z.number()).max(ROLLOUT_SAMPLE_MAX),
  /**
   * Binary classifiers: per group of each of the pipeline's protected attributes that is an input, rows and positive
   * predictions, for the fairness gap.
   */
  groups: z.array(RolloutGroupObservation).max(ROLLOUT_GROUPS_MAX).optional(),
});
export type RolloutVersionObservation = z.infer<typeof RolloutVersionObservation>;

/**
 * A serving instance's report of one interval of a rollout step: per version (baseline and candidate, on the same
 * traffic), requests, errors, latency buckets and a sample of predictions; for shadow, how often the mirrored
 * candidate's answer agreed with the baseline's on the same rows. The registry's rollout analysis sums an instance's
 * reports of the rollout's current revision (one revision: one step) to judge the step.
 */
export const ModelRolloutObservedV1 = defineEvent({
  topic: 'mlops.model.rollout-observed.v1',
  description: 'A serving instance observed baseline and candidate of a rollout step over an interval',
  schema: z.object({
    modelName: z.string().min(1).max(200),
    rolloutId: z.string().min(1).max(200),
    /** The rollout revision (transition number) whose routing plan the traffic followed. */
    revision: z.number().int().positive(),
    /** The serving instance that observed it (host, process). */
    instance: z.string().min(1).max(200),
    intervalStart: Timestamp,
    intervalEnd: Timestamp,
    versions: z.array(RolloutVersionObservation).min(1).max(2),
    /** Shadow: rows scored by both, and rows whose answers agreed (same label, or values within 1e-9). */
    shadow: z.object({ rows: Count, agreed: Count }).optional(),
  }),
  key: (data) => data.modelName,
  maxBytes: 32 * 1024,
});
