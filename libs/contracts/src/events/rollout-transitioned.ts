import { z } from 'zod';
import { ModelVersionNumber, PipelineId } from '../common';
import { defineEvent } from '../event-contract';
import { DeploymentEnvironment, RolloutState, RolloutStrategy, RolloutTrigger } from '../rollout';

/** A rollout moved from one state to the next; `revision` numbers the moves of one model and environment. */
export const ModelRolloutTransitionedV1 = defineEvent({
  topic: 'mlops.model.rollout-transitioned.v1',
  description: 'A model rollout changed state (started, advanced, paused, promoted, rolled back, ...)',
  schema: z.object({
    pipelineId: PipelineId,
    modelName: z.string().min(1),
    environment: DeploymentEnvironment,
    rolloutId: z.string().min(1).max(200),
    strategy: RolloutStrategy,
    candidateVersion: ModelVersionNumber,
    /** The champion when the rollout started; absent when there was none. */
    baselineVersion: ModelVersionNumber.optional(),
    from: RolloutState.optional(),
    to: RolloutState,
    trigger: RolloutTrigger,
    reason: z.string().min(1).max(500),
    actor: z.string().min(1).max(200),
    /** Canary step index (0-based) after the transition. */
    step: z.number().int().min(0),
    /** Share of production traffic the candidate answers after the transition, percent. */
    candidateWeight: z.number().int().min(0).max(100),
    /** Whether the candidate gets a mirrored copy of traffic (shadow) after the transition. */
    mirrored: z.boolean(),
    revision: z.number().int().positive(),
  }),
  key: (data) => data.pipelineId,
  maxBytes: 4 * 1024,
});
