import { z } from 'zod';

/**
 * How a version that passed its gates reaches production traffic. `replace` moves the champion at once (no rollout);
 * the others run a rollout in the registry, a persisted state machine driven by bake timers, analysis and people.
 */
export const RolloutStrategy = z.enum(['replace', 'canary', 'ab', 'shadow', 'blue-green']);
export type RolloutStrategy = z.infer<typeof RolloutStrategy>;

/** Where a serving deployment runs: staging follows the `staging` alias, production follows the rollout plan. */
export const DeploymentEnvironment = z.enum(['staging', 'production']);
export type DeploymentEnvironment = z.infer<typeof DeploymentEnvironment>;

/** The states of a rollout. `promoted`, `rolled-back`, `rejected` and `aborted` are final. */
export const RolloutState = z.enum([
  /** The candidate is loaded and tried in staging; production traffic is untouched. */
  'staging',
  /** The candidate takes its share of production traffic (or a mirror of it, for shadow). */
  'progressing',
  /** Held by a person at the current step: no bake timer or analysis moves it. */
  'paused',
  /** The candidate is the champion. */
  'promoted',
  /** The candidate was taken out of production traffic and the champion is the baseline again. */
  'rolled-back',
  /** The candidate failed in staging and never reached production. */
  'rejected',
  /** Stopped by a person or superseded by a newer candidate; the champion is the baseline. */
  'aborted',
]);
export type RolloutState = z.infer<typeof RolloutState>;

export const FINAL_ROLLOUT_STATES: readonly RolloutState[] = ['promoted', 'rolled-back', 'rejected', 'aborted'];

/** What moved a rollout from one state to the next. */
export const RolloutTrigger = z.enum([
  'start',
  'staging-passed',
  'staging-failed',
  /** A step's bake time elapsed and its analysis passed: the next step, or promotion after the last. */
  'analysis-passed',
  /** An analysis failed: rolled back at once. */
  'analysis-failed',
  'promote',
  'rollback',
  'pause',
  'resume',
  'abort',
  /** A newer candidate started a rollout of the same model and environment. */
  'supersede',
]);
export type RolloutTrigger = z.infer<typeof RolloutTrigger>;

/** The triggers a person (HTTP or gRPC, with actor and reason) may apply. */
export const ManualRolloutAction = z.enum(['promote', 'rollback', 'pause', 'resume', 'abort']);
export type ManualRolloutAction = z.infer<typeof ManualRolloutAction>;

/**
 * Thresholds an analysis compares the candidate against the champion with, on the same traffic. Operational:
 * error rate, p99 latency relative to the champion's. Model quality: the candidate's prediction distribution
 * against the champion's (PSI), accuracy on labelled feedback relative to the champion's, and the fairness gap.
 */
export const RolloutAnalysis = z
  .object({
    /**
     * Fewest candidate requests before an analysis may pass (fewer: the step waits); 0 lets a step with no traffic at
     * all pass on its bake time. Failures count against it at once: failures / max(requests, minRequests).
     */
    minRequests: z.number().int().min(0).default(100),
    maxErrorRate: z.number().min(0).max(1).default(0.01),
    /** Candidate p99 latency divided by the champion's. */
    maxP99LatencyRatio: z.number().positive().default(1.5),
    /** p99 latencies below this count as this (ms): under it the ratio would measure noise, not the model. */
    p99LatencyFloorMs: z.number().min(0).default(10),
    /** PSI of the candidate's predictions against the champion's on the same traffic. */
    maxPredictionPsi: z.number().positive().default(0.2),
    /** Candidate accuracy minus the champion's on labelled feedback (checked once labels arrive). */
    minAccuracyDelta: z.number().max(0).default(-0.02),
    /** Fewest labelled predictions per version (monitoring's rolling performance) before accuracy is compared. */
    minLabels: z.number().int().positive().default(200),
    /** Largest gap of the positive rate between protected groups (binary classification). */
    maxFairnessGap: z.number().min(0).max(1).optional(),
  })
  .prefault({});
export type RolloutAnalysis = z.infer<typeof RolloutAnalysis>;

export const CanaryStep = z.object({
  /** Share of production traffic the candidate answers at this step, percent. */
  weight: z.number().int().min(1).max(100),
  /** How long the step runs before its analysis decides. */
  bakeSeconds: z
    .number()
    .int()
    .min(0)
    .max(7 * 86_400),
});
export type CanaryStep = z.infer<typeof CanaryStep>;

/** The spec's `rollout` section. */
export const RolloutSpec = z
  .object({
    strategy: RolloutStrategy.default('replace'),
    /**
     * Staging first: the candidate is loaded under the `staging` alias and must answer within the latency budget
     * before any production rollout starts (TFX InfraValidator's idea). A failure rejects the candidate.
     */
    staging: z
      .object({
        enabled: z.boolean().default(false),
        maxP99LatencyMs: z.number().positive().default(250),
        /** Sample requests sent to the staged candidate. */
        sampleRequests: z.number().int().positive().max(10_000).default(50),
        /** How long the candidate may take to load in staging before the trial fails. */
        loadTimeoutSeconds: z.number().int().positive().max(86_400).default(300),
      })
      .prefault({}),
    canary: z
      .object({
        steps: z
          .array(CanaryStep)
          .min(1)
          .max(20)
          .default([
            { weight: 10, bakeSeconds: 300 },
            { weight: 50, bakeSeconds: 300 },
          ]),
        analysis: RolloutAnalysis,
      })
      .prefault({}),
    ab: z
      .object({
        /** The candidate arm's share of keys, percent. */
        weight: z.number().int().min(1).max(99).default(50),
        /** Request parameter whose value keeps a caller on one arm (e.g. a user id). */
        stickyKey: z.string().min(1).max(64).default('keel_routing_key'),
        metric: z.enum(['accuracy', 'error-rate']).default('accuracy'),
        /** Two-sided significance level of the test that concludes the experiment. */
        significance: z.number().gt(0).lt(0.5).default(0.05),
        minSamplesPerArm: z.number().int().positive().default(1_000),
        maxDurationSeconds: z
          .number()
          .int()
          .positive()
          .default(7 * 86_400),
      })
      .prefault({}),
    shadow: z
      .object({
        /** How long the candidate gets mirrored traffic before its comparison decides. */
        durationSeconds: z.number().int().min(0).default(3_600),
        analysis: RolloutAnalysis,
      })
      .prefault({}),
    blueGreen: z
      .object({
        /** How long after the switch the previous version is kept warm for an instant switch back. */
        keepPreviousSeconds: z.number().int().min(0).default(3_600),
        analysis: RolloutAnalysis,
      })
      .prefault({}),
  })
  .superRefine((rollout, ctx) => {
    rollout.canary.steps.forEach((step, i) => {
      if (i > 0 && step.weight <= rollout.canary.steps[i - 1].weight) {
        ctx.addIssue({
          code: 'custom',
          path: ['canary', 'steps', i, 'weight'],
          message: 'canary weights must increase step by step',
        });
      }
    });
  });
export type RolloutSpec = z.infer<typeof RolloutSpec>;
